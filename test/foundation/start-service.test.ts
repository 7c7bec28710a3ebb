import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { checkHealth } from '#libs/rpc/index.ts';
import { createScratchDatabase } from '../harness/database.ts';

const cli = new URL('../../bin/tollgate.js', import.meta.url).pathname;
const url = process.env.TOLLGATE_TEST_DATABASE_URL;

describe('tollgate start --service (the production shape)', () => {
  it('refuses to run one service on the embedded database', async () => {
    const child = spawn(process.execPath, [cli, 'start', '--service', 'quota'], { env: { PATH: process.env.PATH ?? '', TOLLGATE_DATA_DIR: mkdtempSync(join(tmpdir(), 'tg-')) } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr.trim()).toBe('tollgate: DATABASE_URL: required to run quota alone (the embedded database serves one process only)');
  });

  it('reports bad values and cross-field problems of the service it starts together, in one line', async () => {
    const child = spawn(process.execPath, [cli, 'start', '--service', 'broker'], {
      env: { PATH: process.env.PATH ?? '', TOLLGATE_MQTT_TLS_CERT: '/etc/tls/mqtt.crt', TOLLGATE_BROKER_MAX_KEEPALIVE: 'forever', TOLLGATE_MQTT_WS_PORT: '1883', TOLLGATE_QUOTA_REPLICAS: 'quota-{0..1}.q:7301' },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    // quota's replica list is not the broker's business: only what this process runs is checked.
    expect(stderr).toBe(
      "tollgate: invalid configuration (3 problems): TOLLGATE_BROKER_MAX_KEEPALIVE: expected a whole number of seconds 0-65535; TOLLGATE_MQTT_TLS_CERT and TOLLGATE_MQTT_TLS_KEY: set both or neither; TOLLGATE_MQTT_WS_PORT: port 1883 is already TOLLGATE_MQTT_PORT's (each port once)\n",
    );
  });

  it.runIf(url)('runs quota alone against Postgres, healthy, and stops on SIGTERM (runs when DATABASE_URL is set)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tg-'));
    // Its own database, migrated as an operator would (`tollgate migrate`): production never migrates at start.
    const scratch = (await createScratchDatabase())!;
    const migrate = spawn(process.execPath, [cli, 'migrate'], { env: { PATH: process.env.PATH ?? '', DATABASE_URL: scratch.url, TOLLGATE_DATA_DIR: dataDir }, stdio: ['ignore', 'ignore', 'inherit'] });
    expect(await new Promise((resolve) => migrate.on('exit', resolve))).toBe(0);
    const child = spawn(process.execPath, [cli, 'start', '--service', 'quota', '--json'], {
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: scratch.url,
        TOLLGATE_ENV: 'production',
        TOLLGATE_SECRET_KEY: randomBytes(32).toString('base64'),
        TOLLGATE_DATA_DIR: dataDir,
        TOLLGATE_QUOTA_GRPC_PORT: '0',
        TOLLGATE_QUOTA_HTTP_PORT: '0',
        TOLLGATE_LOG_LEVEL: 'warn',
      },
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`exited ${code}`)));
      });
      const summary = JSON.parse(line) as { services: { name: string; grpc: string; http: string }[]; console: string | null };
      expect(summary.services.map((s) => s.name)).toEqual(['quota']);
      expect(summary.console).toBeNull();
      expect((await checkHealth(summary.services[0]!.grpc)).status).toBe('SERVING');
      expect((await fetch(`${summary.services[0]!.http}/healthz`)).status).toBe(200);
      child.kill('SIGTERM');
      expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(0);
    } finally {
      child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
      await scratch.drop();
    }
  }, 90_000);
});

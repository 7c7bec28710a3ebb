import { describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { checkHealth } from '#libs/rpc/index.ts';

const cli = new URL('../../bin/tollgate.js', import.meta.url).pathname;
const url = process.env.TOLLGATE_TEST_DATABASE_URL;

/** The worker processes of a primary, by pid (Linux `ps`). */
function workersOf(primaryPid: number): number[] {
  try {
    return execFileSync('ps', ['--ppid', String(primaryPid), '-o', 'pid='], { encoding: 'utf8' })
      .split('\n')
      .map((l) => Number(l.trim()))
      .filter((pid) => pid > 0);
  } catch {
    return []; // ps exits 1 when there is no child
  }
}

async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('eventually: timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('tollgate start --service authz --workers N', () => {
  it('refuses workers for a stateful service, and a bad count (usage, exit 2)', { timeout: 90_000 }, async () => {
    const cases = [
      ['start', '--service', 'quota', '--workers', '2'],
      ['start', '--workers', '2'],
      ['start', '--service', 'authz', '--workers', 'zero'],
    ];
    const results = await Promise.all(
      cases.map(async (args) => {
        const child = spawn(process.execPath, [cli, ...args], { env: { PATH: process.env.PATH ?? '' } });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const code = await new Promise((resolve) => child.on('exit', resolve));
        return { code, stderr };
      }),
    );
    for (const r of results) expect(r).toMatchObject({ code: 2, stderr: expect.stringMatching(/^tollgate: --workers/) });
  });

  // A lone service needs Postgres (the embedded database serves one process only).
  it.runIf(url)('serves from N processes on one port, replaces a worker that dies, and stops them all on SIGTERM (runs when DATABASE_URL is set)', { timeout: 90_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tg-'));
    const env = {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: url!,
      TOLLGATE_ENV: 'production',
      TOLLGATE_SECRET_KEY: randomBytes(32).toString('base64'),
      TOLLGATE_DATA_DIR: dataDir,
      TOLLGATE_AUTHZ_GRPC_PORT: '0',
      TOLLGATE_AUTHZ_HTTP_PORT: '0',
      TOLLGATE_LOG_LEVEL: 'warn',
    };
    // Production: the schema is migrated once, before any replica starts.
    execFileSync(process.execPath, [cli, 'migrate', '--service', 'authz'], { env });
    const child = spawn(process.execPath, [cli, 'start', '--service', 'authz', '--workers', '2', '--json'], { env });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`exited ${code}`)));
      });
      const summary = JSON.parse(line) as { services: { name: string; grpc: string; http: string }[]; workers: number; primary_pid: number };
      expect(summary).toMatchObject({ workers: 2, primary_pid: child.pid, services: [{ name: 'authz' }] });
      const workers = workersOf(child.pid!);
      expect(workers).toHaveLength(2);
      const { grpc, http } = summary.services[0]!;
      expect((await checkHealth(grpc)).status).toBe('SERVING');

      // One worker dies: the port keeps answering (a connection handed to the dead worker before
      // the primary saw it die fails, as with any replica going away), and the primary replaces it.
      process.kill(workers[0]!, 'SIGKILL');
      await eventually(async () => (await checkHealth(grpc, { timeoutMs: 500 })).status === 'SERVING');
      await eventually(() => {
        const now = workersOf(child.pid!);
        return now.length === 2 && !now.includes(workers[0]!);
      });
      expect((await fetch(`${http}/healthz`)).status).toBe(200);

      child.kill('SIGTERM');
      expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(0);
      expect(workersOf(child.pid!)).toEqual([]);
    } finally {
      child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

// What one service costs when it runs alone (`tollgate start --service NAME` does `startMesh` with
// only that service): the process's live heap after forced GCs, its RSS, and how long it took from
// `node` starting to the service serving — module loading included. Every major GC of a busy
// process walks its live heap, so a lone authz that carries the other services' code pays for it on
// every call (docs/BENCHMARKS.md "footprint"). Needs Postgres (DATABASE_URL): a lone service does.
// Each service runs in a fresh child process (`node --expose-gc`), twice; identity (for authz) runs in
// this process on a scratch database.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { authzFixture } from './authz-workers.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The child: imports the CLI's mesh (and through it only what the service needs), starts it, GCs, reports. */
const childScript = (service: string) => `
const t0 = performance.now();
const { loadMeshConfig } = await import(${JSON.stringify(`${root}cli/mesh-config.ts`)});
const { startMesh } = await import(${JSON.stringify(`${root}cli/mesh.ts`)});
const mesh = await startMesh(loadMeshConfig(process.env, ${JSON.stringify(service)}), {});
const startMs = performance.now() - t0;
for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 100)); }
const m = process.memoryUsage();
process.stdout.write(JSON.stringify({ startMs: Math.round(startMs), liveHeapMB: +(m.heapUsed / 1e6).toFixed(1), rssMB: +(m.rss / 1e6).toFixed(1) }) + '\\n');
await mesh.stop();
process.exit(0);`;

async function measure(service: string, env: Record<string, string>): Promise<{ startMs: number; liveHeapMB: number; rssMB: number }> {
  const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', childScript(service)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`${service} alone exited ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1)!) as { startMs: number; liveHeapMB: number; rssMB: number };
}

export async function runFootprintBench(): Promise<void> {
  const fixture = await authzFixture();
  if (!fixture) {
    process.stdout.write('footprint: DATABASE_URL not set (a lone service needs Postgres): skipped\n');
    return;
  }
  try {
    const rows = [];
    for (const service of ['authz', 'quota', 'identity', 'broker']) {
      for (let run = 0; run < 2; run++) rows.push({ service, run, ...(await measure(service, { ...fixture.env, TOLLGATE_IDENTITY_GRPC_PORT: '0', TOLLGATE_IDENTITY_HTTP_PORT: '0', TOLLGATE_QUOTA_GRPC_PORT: '0', TOLLGATE_QUOTA_HTTP_PORT: '0', TOLLGATE_BROKER_GRPC_PORT: '0', TOLLGATE_BROKER_HTTP_PORT: '0', TOLLGATE_MQTT_PORT: '0', TOLLGATE_MQTT_WS_PORT: '0' })) });
    }
    process.stdout.write('each service alone (startMesh with only it, Postgres, production mode): live heap after 3 forced GCs, RSS, time from the first import of cli/mesh.ts to serving\n');
    console.table(rows);
  } finally {
    await fixture.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runFootprintBench();

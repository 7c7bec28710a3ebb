// Tollgate's own work per Authorize call, in process (authorize-path-process.ts): bytes allocated per
// call — a count that does not move with the host's speed, so a change to the path shows here even on
// a machine where CPU figures drift by ±25 % between runs — and CPU µs per call (indicative). The
// ratio to bare grpc-js over the network is the `authz` bench; this one says what Tollgate's share of
// it allocates and where (AUTHORIZE_PATH_SITES=N: the N heaviest allocation sites). Twice: with spans
// recorded (the console's ring) and with no span reader in the process (a lone service without OTLP).
// Runs on DATABASE_URL's Postgres when set, else PGlite.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface PathFigures {
  bytesPerCall: number[];
  cpuUsPerCall: number[];
  sites: { bytesPerCall: number; site: string }[];
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** One child run: spans recorded (the console's ring, as in the one-process mesh) or with no reader. */
async function measure(spans: 'recorded' | 'unread'): Promise<PathFigures> {
  // A fixed young generation: the readings between forced collections never meet a scavenge.
  const child = spawn(process.execPath, ['--expose-gc', '--min-semi-space-size=64', '--max-semi-space-size=64', fileURLToPath(new URL('./authorize-path-process.ts', import.meta.url))], {
    env: { ...process.env, AUTHORIZE_PATH_SPANS: spans },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`authorize-path: the child exited ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1)!) as PathFigures;
}

export async function runAuthorizePathBench(): Promise<void> {
  process.stdout.write(`authz Authorize in process (the handler grpc-js is given, a cached acl token with 100 rules; decode → libs/rpc → decision → encode; ≈ 1 KB per call of it is the bench's stand-in call object)\n`);
  const runs: [string, 'recorded' | 'unread'][] = [
    ['spans recorded (a process with the console or OTLP)', 'recorded'],
    ['spans unread (`tollgate start --service authz` without OTLP: none recorded)', 'unread'],
  ];
  for (const [label, spans] of runs) {
    const figures = await measure(spans);
    process.stdout.write(
      `${label}\n` +
        `  bytes allocated per call: ${median(figures.bytesPerCall)} (readings ${figures.bytesPerCall.join(', ')})\n` +
        `  CPU µs per call: ${median(figures.cpuUsPerCall)} (rounds of 50,000: ${figures.cpuUsPerCall.join(', ')})\n`,
    );
    if (figures.sites.length) console.table(figures.sites);
  }
}

/**
 * Identity benchmark: argon2id logins/s at the OWASP defaults (several in flight, as a busy login
 * endpoint would run them), CPU time per hash, and EdDSA access-token verifications/s.
 *
 *   node test/bench/identity.bench.ts            # prints a table, ends in well under 60 s
 *
 * Not a timed test: figures depend on the machine. Record them in docs/BENCHMARKS.md.
 */
import { availableParallelism, cpus } from 'node:os';
import { createSecretBox } from '#libs/crypto/secret-box.ts';
import { Argon2PasswordHasher } from '../../services/identity/src/crypto/argon2-password-hasher.ts';
import { SigningKeyRing } from '../../services/identity/src/crypto/signing-key-ring.ts';
import { InMemorySigningKeyStore } from '../../services/identity/test/doubles/in-memory-signing-key-store.ts';

export interface IdentityBenchRow {
  name: string;
  opsPerSecond: number;
  /** Wall-clock ms per op, as one caller sees it (latency under this concurrency). */
  latencyMsP50: number;
  latencyMsP99: number;
  /** Process CPU ms (user + system, all threads) per op. */
  cpuMsPerOp: number;
  ops: number;
  concurrency: number;
  /** Cores busy with *other* processes meanwhile (host busy − this process): > 0.2 means contended figures. */
  otherCores: number;
}

export interface IdentityBenchOptions {
  /** Wall time per scenario. */
  durationMs?: number;
  argon2Concurrency?: number[];
  verifyConcurrency?: number;
  /** Print the table (default true: `npm run bench` expects each bench to print its own figures). */
  print?: boolean;
  /** Also run the OAuth provider bench (default true). */
  oauth?: boolean;
}

export async function runIdentityBench(options: IdentityBenchOptions = {}): Promise<IdentityBenchRow[]> {
  const durationMs = options.durationMs ?? 4_000;
  const rows: IdentityBenchRow[] = [];

  const hasher = new Argon2PasswordHasher(); // OWASP defaults: m=19456 KiB, t=2, p=1
  const phc = await hasher.hash('correct horse battery staple');
  for (const concurrency of options.argon2Concurrency ?? [1, 2, 4]) {
    // A login = one argon2id verify at the stored parameters.
    rows.push(await measure(`argon2id verify (login), ${concurrency} in flight`, concurrency, durationMs, () => hasher.verify(phc, 'correct horse battery staple')));
  }
  rows.push(await measure('argon2id hash (set password), 2 in flight', 2, durationMs / 2, () => hasher.hash('correct horse battery staple')));

  const nowMs = Date.now();
  const ring = await SigningKeyRing.open({
    store: new InMemorySigningKeyStore(),
    secretBox: createSecretBox(new Uint8Array(32).fill(3)),
    clock: { nowMs: () => nowMs },
    issuer: 'https://id.tollgate.bench',
    audience: 'tollgate',
  });
  const { token } = await ring.issueAccessToken({ sub: 'usr_bench', acc: 'acc_bench', roles: ['admin'] });
  const verifyConcurrency = options.verifyConcurrency ?? 16;
  rows.push(
    await measure(`EdDSA JWT verify, ${verifyConcurrency} in flight`, verifyConcurrency, durationMs, async () => {
      const outcome = await ring.verifyAccessToken(token);
      if (!outcome.ok) throw new Error(`verify failed: ${outcome.reason}`);
    }),
  );
  rows.push(await measure('EdDSA JWT issue, 16 in flight', 16, durationMs / 2, () => ring.issueAccessToken({ sub: 'usr_bench', acc: 'acc_bench', roles: ['admin'] })));
  if (options.print ?? true) printTable(rows);
  // The OAuth provider's HTTP endpoints (client credentials, introspection): test/bench/oauth.bench.ts.
  if (options.oauth ?? true) await (await import('./oauth.bench.ts')).runOAuthBench({ print: options.print ?? true });
  return rows;
}

async function measure(name: string, concurrency: number, durationMs: number, op: () => Promise<unknown>): Promise<IdentityBenchRow> {
  for (let i = 0; i < Math.min(3, concurrency); i++) await op(); // warm-up
  const latencies: number[] = [];
  const hostStart = hostCpuMs();
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  const deadline = start + durationMs;
  async function worker(): Promise<void> {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      await op();
      latencies.push(performance.now() - t0);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallMs = performance.now() - start;
  const cpu = process.cpuUsage(cpuStart);
  const hostEnd = hostCpuMs();
  const myCores = (cpu.user + cpu.system) / 1000 / wallMs;
  const hostCores = (hostEnd.busy - hostStart.busy) / (hostEnd.total - hostStart.total) * cpus().length;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return {
    name,
    opsPerSecond: (latencies.length * 1000) / wallMs,
    latencyMsP50: at(0.5),
    latencyMsP99: at(0.99),
    cpuMsPerOp: (cpu.user + cpu.system) / 1000 / latencies.length,
    ops: latencies.length,
    concurrency,
    otherCores: Math.max(0, hostCores - myCores),
  };
}

/** Host-wide CPU time (all cores) from os.cpus(): busy and total ms. */
function hostCpuMs(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const cpu of cpus()) {
    const { user, nice, sys, idle, irq } = cpu.times;
    busy += user + nice + sys + irq;
    total += user + nice + sys + idle + irq;
  }
  return { busy, total };
}

function printTable(rows: IdentityBenchRow[]): void {
  const header = ['scenario', 'ops/s', 'p50 ms', 'p99 ms', 'CPU ms/op', 'ops', 'other load (cores)'];
  const body = rows.map((row) => [row.name, row.opsPerSecond.toFixed(1), row.latencyMsP50.toFixed(2), row.latencyMsP99.toFixed(2), row.cpuMsPerOp.toFixed(3), String(row.ops), row.otherCores.toFixed(2)]);
  const widths = header.map((_, i) => Math.max(header[i]!.length, ...body.map((line) => line[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const cells of body) console.log(line(cells));
  const busiest = Math.max(...rows.map((row) => row.otherCores));
  if (busiest > 0.2) console.log(`\nwarning: other processes used up to ${busiest.toFixed(2)} cores during the run; throughput figures are contended (CPU ms/op is not)`);
  const one = rows.find((row) => row.concurrency === 1 && row.name.startsWith('argon2id verify'));
  const best = rows.filter((row) => row.name.startsWith('argon2id verify')).sort((a, b) => b.opsPerSecond - a.opsPerSecond)[0];
  const jwt = rows.find((row) => row.name.startsWith('EdDSA JWT verify'));
  if (one && best && jwt) {
    console.log(`\nargon2id scaling: ${(best.opsPerSecond / one.opsPerSecond).toFixed(2)}× from 1 to ${best.concurrency} in flight; a JWT verify is ${(jwt.opsPerSecond / best.opsPerSecond).toFixed(0)}× cheaper than a password login`);
  }
}

if (import.meta.main) {
  const started = performance.now();
  console.log(`identity bench — node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'})\n`);
  await runIdentityBench();
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

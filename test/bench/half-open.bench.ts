/**
 * Half-open CONNECT benchmark (issue 11): what 1,000 hostile unauthenticated connections cost the
 * broker, each sending a partial CONNECT trickled in 256-byte pieces and then going quiet.
 *
 *   npm run bench -- half-open        (or node test/bench/half-open.bench.ts; ~15 s)
 *
 * The broker (in-memory ports, its default limits) runs in a child process forked from this file
 * with `--serve`, so the 1,000 client sockets here never count against it. It reports its RSS
 * (after a forced GC) and process.cpuUsage() before and after; the delta is the cost of the
 * connections. Scenarios:
 *   - near-cap: every connection announces a CONNECT just under TOLLGATE_BROKER_MAX_CONNECT_BYTES
 *     (8 KiB) and trickles 7,936 bytes of it — the most one unauthenticated client can make us
 *     hold. Pending-per-address cap lifted (as if from 1,000 addresses).
 *   - one address: the same from 127.0.0.1 with the default cap of 64 pending per address.
 *   - 1 MB CONNECT: every connection announces a 1 MB CONNECT and trickles it in 1 KiB pieces
 *     (refused as soon as its length is known).
 */
import { fork, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const CONNECTIONS = 1_000;

interface Usage {
  rssBytes: number;
  cpuMicros: number;
  pending: number;
}

async function serve(maxPendingConnectsPerIp: string): Promise<void> {
  const { createBroker } = await import('../../services/broker/src/broker.ts');
  const { InMemoryAuthenticator } = await import('../../services/broker/test/doubles/in-memory-authenticator.ts');
  const { UnlimitedQuotaMeter } = await import('../../services/broker/test/doubles/unlimited-quota-meter.ts');
  const { CountingMetrics } = await import('../../services/broker/src/adapters/counting-metrics.ts');
  const metrics = new CountingMetrics();
  const broker = createBroker({
    authenticator: new InMemoryAuthenticator({ users: [{ username: 'dev', password: 'pw', account: 'acc_b' }] }),
    quota: new UnlimitedQuotaMeter(),
    metrics,
    tcp: { host: '127.0.0.1', port: 0 },
    // Held for the whole measurement (the default 5 s would start closing them mid-way).
    connectTimeoutMs: 60_000,
    ...(maxPendingConnectsPerIp !== 'default' ? { maxPendingConnectsPerIp: Number(maxPendingConnectsPerIp) } : {}),
  });
  const { tcp } = await broker.listen();
  const usage = (): Usage => {
    (globalThis as { gc?: () => void }).gc?.();
    const cpu = process.cpuUsage();
    return { rssBytes: process.memoryUsage().rss, cpuMicros: cpu.user + cpu.system, pending: metrics.get('connections_opened') - metrics.get('connections_closed') };
  };
  process.on('message', (m: string) => {
    if (m === 'usage') process.send!({ usage: usage(), counters: Object.fromEntries(metrics.counters) });
  });
  process.send!({ port: tcp!.port });
}

function startServer(maxPending: string): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', maxPending], { execArgv: ['--expose-gc'] });
  return new Promise((resolve) => child.once('message', (m: { port: number }) => resolve({ child, port: m.port })));
}

function ask(child: ChildProcess): Promise<{ usage: Usage; counters: Record<string, number> }> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as { usage: Usage; counters: Record<string, number> }));
    child.send('usage');
  });
}

const tick = () => new Promise((r) => setTimeout(r, 5));

/** A CONNECT fixed header announcing `length` bytes, then the start of a v3.1.1 variable header. */
function connectStart(length: number): Buffer {
  const len: number[] = [];
  let n = length;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    len.push(b);
  } while (n > 0);
  return Buffer.from([0x10, ...len, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0xc2, 0x00, 0x3c]);
}

async function scenario(name: string, maxPending: string, announced: number, trickled: number, piece: number): Promise<Record<string, string | number>> {
  const { child, port } = await startServer(maxPending);
  const before = await ask(child);
  const sockets = await Promise.all(
    Array.from({ length: CONNECTIONS }, () => {
      return new Promise<net.Socket>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => resolve(s));
        s.on('error', () => {});
      });
    }),
  );
  const filler = Buffer.alloc(piece, 0x61);
  for (const s of sockets) s.write(connectStart(announced));
  await tick();
  for (let sent = 0; sent < trickled; sent += piece) {
    for (const s of sockets) if (!s.destroyed) s.write(filler.subarray(0, Math.min(piece, trickled - sent)));
    await tick();
  }
  await new Promise((r) => setTimeout(r, 500));
  const after = await ask(child);
  const open = sockets.filter((s) => !s.destroyed && !s.readableEnded).length;
  for (const s of sockets) s.destroy();
  child.kill();
  return {
    scenario: name,
    'held by broker': after.usage.pending,
    'RSS Δ MB': +((after.usage.rssBytes - before.usage.rssBytes) / 1_048_576).toFixed(1),
    'CPU ms': +((after.usage.cpuMicros - before.usage.cpuMicros) / 1000).toFixed(0),
    'refused (per address)': after.counters['pending_connects_refused'] ?? 0,
    'refused (too large)': after.counters['connects_too_large'] ?? 0,
    'client sockets open': open,
  };
}

export async function runHalfOpenBench(): Promise<void> {
  const rows = [
    await scenario('near-cap CONNECT (8,000 B of 8 KiB) in 256 B pieces, 1,000 addresses', '100000', 8_000, 7_936, 256),
    await scenario('same, all from one address (default cap 64)', 'default', 8_000, 7_936, 256),
    await scenario('1 MB CONNECT in 1 KiB pieces, 1,000 addresses', '100000', 1_048_576, 64 * 1_024, 1_024),
  ];
  console.table(rows);
  process.stdout.write(`goal: 1,000 half-open connections < 20 MB and < 1 s of broker CPU in total (node ${process.version})\n`);
}

if (process.argv[2] === '--serve') await serve(process.argv[3] ?? 'default');
else if (import.meta.url === `file://${process.argv[1]}`) await runHalfOpenBench();

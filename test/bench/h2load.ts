// An independent load generator for gRPC unary calls: h2load (Debian's nghttp2-client), a C HTTP/2
// client that costs far less CPU per call than a grpc-js client, so the figure is the server's.
// gRPC over HTTP/2 is a POST with `content-type: application/grpc`, `te: trailers` and a
// length-prefixed message; h2load replays one such body. Percentiles come from its per-request log.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export function h2loadAvailable(): boolean {
  try {
    execFileSync('h2load', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A protobuf message as one gRPC length-prefixed frame (uncompressed). */
export function grpcFrame(message: Uint8Array): Buffer {
  const framed = Buffer.alloc(5 + message.length);
  framed.writeUInt32BE(message.length, 1);
  framed.set(message, 5);
  return framed;
}

export interface H2loadResult {
  inFlight: number;
  callsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  failed: number;
  /** CPU time (user + system) the `serverPids` spent per call over the measured window, when given. */
  cpuUsPerCall?: number;
}

/** utime + stime of a process in clock ticks (100 Hz on Linux), from /proc/<pid>/stat. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

const WARM_UP_SECONDS = 2;

export interface H2loadOptions {
  address: string;
  path: string;
  body: Buffer;
  seconds: number;
  /** Calls in flight on each connection. */
  inFlight: number;
  headers?: Record<string, string>;
  /** HTTP/2 connections (default 1) and h2load threads (default 1). */
  connections?: number;
  threads?: number;
  /** Pins h2load to these CPUs (`taskset -c`), e.g. "0". */
  cpus?: string;
  /** Server processes whose CPU time is measured over the window after the warm-up. */
  serverPids?: number[];
}

/**
 * `inFlight` concurrent calls of `path` on each of `connections` HTTP/2 connections (one by
 * default) for `seconds`, after a 2 s warm-up.
 */
export async function runH2load(options: H2loadOptions): Promise<H2loadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-h2load-'));
  try {
    const bodyFile = join(dir, 'body.bin');
    const logFile = join(dir, 'requests.log');
    writeFileSync(bodyFile, options.body);
    const headers = { 'content-type': 'application/grpc', te: 'trailers', ...options.headers };
    const args = ['-c', String(options.connections ?? 1), '-t', String(options.threads ?? 1), '-m', String(options.inFlight), '-D', String(options.seconds), `--warm-up-time=${WARM_UP_SECONDS}`, '-d', bodyFile, '--log-file', logFile];
    for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
    args.push(`http://${options.address}${options.path}`);
    const pids = options.serverPids ?? [];
    const ticks = () => pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
    let cpuFrom: number | undefined;
    const mark = setTimeout(() => (cpuFrom = ticks()), WARM_UP_SECONDS * 1000);
    const [file, argv] = options.cpus ? ['taskset', ['-c', options.cpus, 'h2load', ...args]] : ['h2load', args];
    const { stdout } = await run(file, argv, { timeout: (options.seconds + 30) * 1000, maxBuffer: 16 * 1024 * 1024 }).finally(() => clearTimeout(mark));
    const cpuTo = ticks();
    const rate = /finished in [\d.]+s, ([\d.]+) req\/s/.exec(stdout);
    const failed = /(\d+) failed, (\d+) errored/.exec(stdout);
    const micros = readFileSync(logFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => Number(line.split('\t')[2]))
      .sort((a, b) => a - b);
    const pct = (p: number) => (micros.length ? micros[Math.min(micros.length - 1, Math.floor(micros.length * p))]! / 1000 : NaN);
    const callsPerSecond = rate ? Number(rate[1]) : NaN;
    // Ticks are 10 ms: the measured window holds a few hundred of them.
    const cpuUsPerCall = pids.length && cpuFrom !== undefined ? Number((((cpuTo - cpuFrom) * 10_000) / (callsPerSecond * options.seconds)).toFixed(1)) : undefined;
    return {
      inFlight: options.inFlight,
      callsPerSecond: Math.round(callsPerSecond),
      p50Ms: Number(pct(0.5).toFixed(3)),
      p99Ms: Number(pct(0.99).toFixed(3)),
      failed: failed ? Number(failed[1]) + Number(failed[2]) : NaN,
      ...(cpuUsPerCall === undefined ? {} : { cpuUsPerCall }),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

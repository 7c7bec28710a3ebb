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
}

/** `inFlight` concurrent calls of `path` on one HTTP/2 connection for `seconds`, after a 2 s warm-up. */
export async function runH2load(options: { address: string; path: string; body: Buffer; seconds: number; inFlight: number; headers?: Record<string, string> }): Promise<H2loadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-h2load-'));
  try {
    const bodyFile = join(dir, 'body.bin');
    const logFile = join(dir, 'requests.log');
    writeFileSync(bodyFile, options.body);
    const headers = { 'content-type': 'application/grpc', te: 'trailers', ...options.headers };
    const args = ['-c', '1', '-t', '1', '-m', String(options.inFlight), '-D', String(options.seconds), '--warm-up-time=2', '-d', bodyFile, '--log-file', logFile];
    for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
    args.push(`http://${options.address}${options.path}`);
    const { stdout } = await run('h2load', args, { timeout: (options.seconds + 30) * 1000, maxBuffer: 16 * 1024 * 1024 });
    const rate = /finished in [\d.]+s, ([\d.]+) req\/s/.exec(stdout);
    const failed = /(\d+) failed, (\d+) errored/.exec(stdout);
    const micros = readFileSync(logFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => Number(line.split('\t')[2]))
      .sort((a, b) => a - b);
    const pct = (p: number) => (micros.length ? micros[Math.min(micros.length - 1, Math.floor(micros.length * p))]! / 1000 : NaN);
    return {
      inFlight: options.inFlight,
      callsPerSecond: rate ? Math.round(Number(rate[1])) : NaN,
      p50Ms: Number(pct(0.5).toFixed(3)),
      p99Ms: Number(pct(0.99).toFixed(3)),
      failed: failed ? Number(failed[1]) + Number(failed[2]) : NaN,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

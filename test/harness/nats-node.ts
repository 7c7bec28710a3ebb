/**
 * A throwaway nats-server (JetStream, storage in a temp dir) on a free port, for tests that stop and
 * restart NATS — never the machine's own 4222.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort, isListening } from './ports.ts';

export interface NatsNode {
  url: string;
  port: number;
  /** Stops the server (SIGTERM, waits for exit); JetStream data stays in its dir. */
  stop(): Promise<void>;
  /** Starts it again on the same port and storage dir. */
  start(): Promise<void>;
  /** Stops it and removes its storage dir. */
  destroy(): Promise<void>;
}



export async function startNatsNode(): Promise<NatsNode> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-nats-'));
  let child: ChildProcess | undefined;
  let output = '';

  async function start(): Promise<void> {
    output = '';
    const proc = spawn(natsServerBinary(), ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 15_000;
    while (!output.includes('Server is ready')) {
      if (proc.exitCode !== null) throw new Error(`nats-server exited: ${output}`);
      if (Date.now() > deadline) throw new Error(`nats-server did not start: ${output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    if (!(await isListening(port))) throw new Error(`nats-server not listening on ${port}: ${output}`);
  }

  async function stop(): Promise<void> {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    });
  }

  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    start,
    stop,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Debian installs nats-server in /usr/sbin, which is not on every PATH (a CI shell's may lack it). */
export function natsServerBinary(): string {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/bin', '/usr/local/bin']) {
    if (dir && existsSync(join(dir, 'nats-server'))) return join(dir, 'nats-server');
  }
  return 'nats-server';
}

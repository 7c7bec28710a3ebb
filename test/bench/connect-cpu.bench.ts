/**
 * Broker CPU per CONNECT + DISCONNECT with credentials, as the broker bench's Tollgate runs it (the
 * whole mesh in one process on PGlite, an acl token, quota slot blocks), measured with
 * process.cpuUsage() inside the broker process around N connects so the load generator (this
 * process) never counts. `npm run bench -- connect-cpu` (or node test/bench/connect-cpu.bench.ts
 * [N]); add `--prof` to write a V8 CPU profile of the broker process over the measured connects
 * to ./connect-cpu.cpuprofile (the inspector's Profiler, as node --cpu-prof) for the top frames.
 */
import { fork } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqttPacket from 'mqtt-packet';

async function serve(): Promise<void> {
  const { startBenchMesh } = await import('./bench-mesh.ts');
  const { mesh, secret } = await startBenchMesh('tollgate-bench-connect-');
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const inspector = new Session();
  process.on('message', async (m: string) => {
    if (m === 'prof-start') {
      inspector.connect();
      await inspector.post('Profiler.enable');
      await inspector.post('Profiler.start');
      process.send!('ok');
    } else if (m === 'prof-stop') {
      const { profile } = await inspector.post('Profiler.stop');
      writeFileSync('connect-cpu.cpuprofile', JSON.stringify(profile));
      process.send!('ok');
    } else if (m === 'cpu') {
      const u = process.cpuUsage();
      process.send!({ cpu: u.user + u.system });
    } else if (m === 'exit') process.exit(0);
  });
  const tcp = mesh.broker!.mqttAddresses().tcp!;
  process.send!({ port: Number(tcp.slice(tcp.lastIndexOf(':') + 1)), username: secret });
}

async function connectMany(port: number, username: string, total: number): Promise<void> {
  const connect = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'cd', clean: true, keepalive: 0, username, password: Buffer.from('') });
  const disconnect = mqttPacket.generate({ cmd: 'disconnect' });
  let started = 0;
  const worker = async (k: number): Promise<void> => {
    const packet = Buffer.from(connect);
    packet[packet.indexOf('cd') + 1] = 0x61 + k;
    while (started++ < total) {
      await new Promise<void>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => s.write(packet));
        s.once('data', () => s.end(disconnect));
        s.once('close', () => resolve());
        s.on('error', () => {});
      });
    }
  };
  await Promise.all(Array.from({ length: 8 }, (_, k) => worker(k)));
}

export async function runConnectCpuBench(total = 5_000, profile = false): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve']);
  const ask = <T>(m: string) => new Promise<T>((resolve) => {
    child.once('message', (r: T) => resolve(r));
    child.send(m);
  });
  const { port, username } = await new Promise<{ port: number; username: string }>((resolve) => child.once('message', (m: { port: number; username: string }) => resolve(m)));
  await connectMany(port, username, 500); // warm-up: JIT, credential cache, slot block
  if (profile) await ask('prof-start');
  const before = await ask<{ cpu: number }>('cpu');
  const t0 = performance.now();
  await connectMany(port, username, total);
  const wallMs = performance.now() - t0;
  const after = await ask<{ cpu: number }>('cpu');
  if (profile) await ask('prof-stop');
  process.stdout.write(`connect+disconnect with credentials: ${total} in ${wallMs.toFixed(0)} ms (${Math.round((total / wallMs) * 1000)}/s); broker CPU ${((after.cpu - before.cpu) / total).toFixed(1)} µs per connect\n`);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.send('exit');
  await exited;
}

if (process.argv[2] === '--serve') await serve();
else if (import.meta.url === `file://${process.argv[1]}`) await runConnectCpuBench(Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 5_000), process.argv.includes('--prof'));

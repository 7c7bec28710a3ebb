/**
 * Broker CPU per CONNECT + DISCONNECT with credentials, as the broker bench's Tollgate runs it (the
 * whole mesh in one process on PGlite, an acl token, quota slot blocks), measured with
 * process.cpuUsage() inside the broker process around N connects so the load generator (this
 * process) never counts — side by side with Mosquitto 2 (when /usr/sbin/mosquitto exists; started
 * as the broker bench starts it, its CPU read from /proc/<pid>/stat) under the same load generator,
 * in alternating rounds so both see the same machine. `npm run bench -- connect-cpu` (or node
 * test/bench/connect-cpu.bench.ts [N] [--rounds R]); add `--prof` to write a V8 CPU profile of the
 * Tollgate process over its measured connects to ./connect-cpu.cpuprofile (the inspector's
 * Profiler, as node --cpu-prof) for the top frames.
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

/**
 * The floor any Node broker stands on: a bare `net` server (Nagle off, as the broker's) that answers
 * every CONNECT with a fixed CONNACK and closes on DISCONNECT — no parsing, no credentials, no
 * session, no telemetry. Tollgate's CPU per connect over this figure is what Tollgate itself spends;
 * this figure over Mosquitto's is what Node's sockets cost against Mosquitto's C.
 */
async function serveBare(): Promise<void> {
  const CONNACK = Buffer.from([0x20, 0x02, 0x00, 0x00]);
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on('data', (chunk: Buffer) => {
      if (chunk[0] === 0x10) socket.write(CONNACK);
      if (chunk[0] === 0xe0) socket.end();
    });
    socket.on('error', () => {});
  });
  process.on('message', (m: string) => {
    if (m === 'cpu') {
      const u = process.cpuUsage();
      process.send!({ cpu: u.user + u.system });
    } else if (m === 'exit') process.exit(0);
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as net.AddressInfo).port }));
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

interface Round {
  cpuMicros: number;
  /** `cpuMicros` less what the process spends anyway over the same wall time (its idle rate). */
  netMicros: number;
  perSecond: number;
}

/** CPU µs the process spends per ms of wall time with no client: the mesh's own timers (Tollgate), ~0 (Mosquitto). */
async function idleRate(cpu: () => Promise<number | undefined>): Promise<number> {
  const before = await cpu();
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, IDLE_WINDOW_MS));
  const after = await cpu();
  return before === undefined || after === undefined ? 0 : (after - before) / (performance.now() - t0);
}

/**
 * N connects against `port`; CPU of the broker (µs per connect) from `cpu()` before and after.
 * On a loaded machine the connects take longer and the process's background work (the mesh's
 * timers) grows with the wall time, so the figure net of the idle rate is given too.
 */
async function round(port: number, username: string, total: number, cpu: () => Promise<number | undefined>, profile?: { start(): Promise<unknown>; stop(): Promise<unknown> }): Promise<Round | undefined> {
  const idle = await idleRate(cpu);
  await profile?.start();
  const before = await cpu();
  const t0 = performance.now();
  await connectMany(port, username, total);
  const wallMs = performance.now() - t0;
  const after = await cpu();
  await profile?.stop();
  if (before === undefined || after === undefined) return undefined;
  const cpuMicros = (after - before) / total;
  return { cpuMicros, netMicros: cpuMicros - (idle * wallMs) / total, perSecond: (total / wallMs) * 1000 };
}

const IDLE_WINDOW_MS = 2_000;

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const fmt = (r: Round) => `${r.cpuMicros.toFixed(1)} µs CPU per connect, ${r.netMicros.toFixed(1)} net of idle (${Math.round(r.perSecond)}/s)`;

export async function runConnectCpuBench(total = 5_000, profile = false, rounds = 3): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve']);
  const ask = <T>(m: string) => new Promise<T>((resolve) => {
    child.once('message', (r: T) => resolve(r));
    child.send(m);
  });
  const { port, username } = await new Promise<{ port: number; username: string }>((resolve) => child.once('message', (m: { port: number; username: string }) => resolve(m)));
  // The peer: Mosquitto as the broker bench runs it (its own process; CPU in clock ticks of 10 ms).
  const { startMosquitto, cpuTicks } = await import('./broker.bench.ts');
  const mosquitto = await startMosquitto();
  const bare = fork(fileURLToPath(import.meta.url), ['--serve-bare']);
  const askBare = <T>(m: string) => new Promise<T>((resolve) => {
    bare.once('message', (r: T) => resolve(r));
    bare.send(m);
  });
  const { port: barePort } = await new Promise<{ port: number }>((resolve) => bare.once('message', (m: { port: number }) => resolve(m)));
  await connectMany(port, username, 500); // warm-up: JIT, credential cache, slot block
  if (mosquitto) await connectMany(mosquitto.port, username, 500);
  await connectMany(barePort, username, 500);
  const bareCpu = async () => (await askBare<{ cpu: number }>('cpu')).cpu;
  const tollgateCpu = async () => (await ask<{ cpu: number }>('cpu')).cpu;
  const mosquittoCpu = async () => {
    const ticks = mosquitto ? cpuTicks(mosquitto.pid) : undefined;
    return ticks === undefined ? undefined : ticks * 10_000;
  };
  const ours: Round[] = [];
  const peer: Round[] = [];
  const floor: Round[] = [];
  const lines: string[] = [];
  for (let r = 0; r < rounds; r++) {
    // Profiled: the first Tollgate round only (the profiler's own cost stays out of the others).
    const t = await round(port, username, total, tollgateCpu, profile && r === 0 ? { start: () => ask('prof-start'), stop: () => ask('prof-stop') } : undefined);
    ours.push(t!);
    const m = mosquitto ? await round(mosquitto.port, username, total, mosquittoCpu) : undefined;
    if (m) peer.push(m);
    const f = (await round(barePort, username, total, bareCpu))!;
    floor.push(f);
    lines.push(`round ${r + 1}: Tollgate ${fmt(t!)}${m ? `; Mosquitto ${fmt(m)}` : ''}; bare Node ${fmt(f)}`);
  }
  const avg = (rs: Round[]): Round => ({ cpuMicros: mean(rs.map((x) => x.cpuMicros)), netMicros: mean(rs.map((x) => x.netMicros)), perSecond: mean(rs.map((x) => x.perSecond)) });
  const o = avg(ours);
  const sampler = process.env.OTEL_TRACES_SAMPLER ? `${process.env.OTEL_TRACES_SAMPLER}${process.env.OTEL_TRACES_SAMPLER_ARG ? ` ${process.env.OTEL_TRACES_SAMPLER_ARG}` : ''}` : 'default (parentbased_always_on: every CONNECT traced)';
  const summary = [`connect+disconnect with credentials, ${total} per round, ${rounds} rounds alternating; Tollgate's trace sampler: ${sampler}:`, ...lines, `mean: Tollgate ${fmt(o)}`];
  if (peer.length > 0) {
    const p = avg(peer);
    summary[summary.length - 1] += `; Mosquitto ${fmt(p)}`;
    summary.push(`Tollgate / Mosquitto, CPU per connect (≥ 1: Tollgate spends less): ${(p.cpuMicros / o.cpuMicros).toFixed(2)}× (net of idle ${(p.netMicros / o.netMicros).toFixed(2)}×)`);
  } else summary.push('Mosquitto: not installed (/usr/sbin/mosquitto), no peer figure');
  const b = avg(floor);
  summary.push(`bare Node net server (fixed CONNACK, nothing else): ${fmt(b)} — Tollgate's own share: ${(o.netMicros - b.netMicros).toFixed(1)} µs per connect (Tollgate / bare Node ${(b.netMicros / o.netMicros).toFixed(2)}×)`);
  if (peer.length > 0) summary.push(`bare Node / Mosquitto, CPU per connect: ${(avg(peer).netMicros / b.netMicros).toFixed(2)}× — the ratio no Node broker can pass on this machine`);
  process.stdout.write(`${summary.join('\n')}\n`);
  await mosquitto?.stop();
  const bareExited = new Promise((resolve) => bare.once('exit', resolve));
  bare.send('exit');
  await bareExited;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.send('exit');
  await exited;
}

if (process.argv[2] === '--serve') await serve();
else if (process.argv[2] === '--serve-bare') await serveBare();
else if (import.meta.url === `file://${process.argv[1]}`) {
  const roundsAt = process.argv.indexOf('--rounds');
  const rounds = roundsAt >= 0 ? Number(process.argv[roundsAt + 1]) : 3;
  const total = process.argv.slice(2).find((a, i, all) => /^\d+$/.test(a) && all[i - 1] !== '--rounds');
  await runConnectCpuBench(Number(total ?? 5_000), process.argv.includes('--prof'), rounds);
}

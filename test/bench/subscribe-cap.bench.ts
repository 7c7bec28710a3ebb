// The longest synchronous stretch one hostile SUBSCRIBE can cause: an account holding 100,000
// retained messages, then one SUBSCRIBE at the filter cap (128 wildcard filters, each a cursor
// over the whole store) and one of 100,000 filters (the excess refused). `npm run bench --
// subscribe-cap` (or node test/bench/subscribe-cap.bench.ts).
//
// The broker runs in a child process forked from this file with `--serve`: its event-loop delay
// (monitorEventLoopDelay, 1 ms resolution) is read there, so generating the 1 MiB SUBSCRIBE and
// parsing the 100,000-code SUBACK on the client side here never count against it.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import mqttPacket from 'mqtt-packet';
import { RawClient } from '../../services/broker/test/harness.ts';

interface Blocking {
  maxMs: number;
  p99Ms: number;
}

async function serve(): Promise<void> {
  const { createBroker } = await import('../../services/broker/src/broker.ts');
  const { InMemoryAuthenticator } = await import('../../services/broker/test/doubles/in-memory-authenticator.ts');
  const { UnlimitedQuotaMeter } = await import('../../services/broker/test/doubles/unlimited-quota-meter.ts');
  const { CountingMetrics } = await import('../../services/broker/src/adapters/counting-metrics.ts');
  const broker = createBroker({
    authenticator: new InMemoryAuthenticator({ users: [{ username: 'alice', password: 'pw-a', account: 'acc_a' }] }),
    quota: new UnlimitedQuotaMeter(),
    metrics: new CountingMetrics(),
    tcp: { host: '127.0.0.1', port: 0 },
    maxRetainedPerAccount: 200_000,
  });
  const { tcp } = await broker.listen();
  let h: ReturnType<typeof monitorEventLoopDelay> | undefined;
  process.on('message', (m: string) => {
    if (m === 'start') {
      h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      process.send!('started');
    } else if (m === 'stop') {
      h!.disable();
      process.send!({ maxMs: h!.max / 1e6, p99Ms: h!.percentile(99) / 1e6 } satisfies Blocking);
    } else if (m === 'exit') process.exit(0);
  });
  process.send!({ port: tcp!.port });
}

function ask<T>(child: ChildProcess, message: string): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m: T) => resolve(m));
    child.send(message);
  });
}

export async function runSubscribeCapBench(): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve']);
  const { port } = await new Promise<{ port: number }>((resolve) => child.once('message', (m: { port: number }) => resolve(m)));
  const seed = new RawClient(port, 4);
  await seed.ready();
  seed.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'seed', clean: true, keepalive: 0, username: 'alice', password: Buffer.from('pw-a') });
  await seed.next('connack');
  const frames: Buffer[] = [];
  for (let i = 0; i < 100_000; i++) frames.push(mqttPacket.generate({ cmd: 'publish', topic: `r/${i % 1000}/${i}`, payload: Buffer.from('v'), qos: 0, retain: true, dup: false }));
  frames.push(mqttPacket.generate({ cmd: 'pingreq' }));
  seed.sendBytes(Buffer.concat(frames));
  await seed.next('pingresp', 60_000);

  for (const [label, subscriptions] of [
    ['128 filters, each scanning 100,000 retained (none match)', Array.from({ length: 128 }, (_, i) => ({ topic: `none/${i}/#`, qos: 1 as const }))],
    ['128 filters, 100 retained matching each', Array.from({ length: 128 }, (_, i) => ({ topic: `r/${i}/#`, qos: 1 as const }))],
    ['100,000 filters (128 taken)', Array.from({ length: 100_000 }, (_, i) => ({ topic: `h/${i}`, qos: 0 as const }))],
  ] as const) {
    const r = new RawClient(port, 5);
    await r.ready();
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: `s${label.length}`, clean: true, keepalive: 0, username: 'alice', password: Buffer.from('pw-a') });
    await r.next('connack');
    const subscribe = mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [...subscriptions] }, { protocolVersion: 5 });
    await ask(child, 'start');
    const t0 = performance.now();
    r.sendBytes(subscribe);
    await r.next('suback', 60_000);
    const expected = label.startsWith('128 filters, 100') ? 12_800 : 0;
    while (r.packets.filter((p) => p.cmd === 'publish').length < expected) await new Promise((res) => setTimeout(res, 5));
    // Let the cursors finish scanning.
    await new Promise((res) => setTimeout(res, 500));
    const blocked = await ask<Blocking>(child, 'stop');
    process.stdout.write(`${label}: SUBACK + retained in ${(performance.now() - t0).toFixed(0)} ms; broker event loop blocked at most ${blocked.maxMs.toFixed(1)} ms (p99 ${blocked.p99Ms.toFixed(1)} ms)\n`);
    r.close();
  }
  seed.close();
  child.send('exit');
}

if (process.argv[2] === '--serve') await serve();
else if (import.meta.url === `file://${process.argv[1]}`) await runSubscribeCapBench();

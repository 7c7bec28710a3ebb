// The longest synchronous stretch one hostile SUBSCRIBE can cause: an account holding 100,000
// retained messages, then one SUBSCRIBE at the filter cap (128 wildcard filters, each a cursor
// over the whole store) and one of 100,000 filters (the excess refused). Event-loop blocking is
// read with monitorEventLoopDelay (1 ms resolution) while the broker answers and drains the
// retained cursors. `npm run bench -- subscribe-cap`.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import mqttPacket from 'mqtt-packet';
import { startBroker, RawClient } from '../../services/broker/test/harness.ts';

export async function runSubscribeCapBench(): Promise<void> {
  const tb = await startBroker({ maxRetainedPerAccount: 200_000 });
  const seed = new RawClient(tb.port, 4);
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
    const r = new RawClient(tb.port, 5);
    await r.ready();
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: `s${label.length}`, clean: true, keepalive: 0, username: 'alice', password: Buffer.from('pw-a') });
    await r.next('connack');
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const t0 = performance.now();
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [...subscriptions] });
    await r.next('suback', 60_000);
    const expected = label.startsWith('128 filters, 100') ? 12_800 : 0;
    while (r.packets.filter((p) => p.cmd === 'publish').length < expected) await new Promise((res) => setTimeout(res, 5));
    // Let the cursors finish scanning.
    await new Promise((res) => setTimeout(res, 500));
    h.disable();
    process.stdout.write(`${label}: SUBACK + retained in ${(performance.now() - t0).toFixed(0)} ms; event loop blocked at most ${(h.max / 1e6).toFixed(1)} ms (p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms)\n`);
    r.close();
  }
  seed.close();
  await tb.close();
}

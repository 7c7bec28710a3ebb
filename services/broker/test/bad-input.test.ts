import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import mqttPacket from 'mqtt-packet';
import { startBroker, collect, waitFor, RawClient, type TestBroker } from './harness.ts';

let tb: TestBroker | undefined;
const raws: RawClient[] = [];
afterEach(async () => {
  raws.splice(0).forEach((r) => r.close());
  await tb?.close();
  tb = undefined;
});

async function connected(port: number, version: 4 | 5, clientId = 'raw'): Promise<RawClient> {
  const r = new RawClient(port, version);
  raws.push(r);
  await r.ready();
  r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId, clean: true, keepalive: 0, username: 'alice', password: Buffer.from('pw-a') });
  await r.next('connack');
  return r;
}

describe('bad input', () => {
  it('malformed packet → v5 DISCONNECT 0x81 and close; the broker keeps serving', async () => {
    tb = await startBroker();
    const r = await connected(tb.port, 5);
    // SUBSCRIBE with reserved flags 0000 instead of 0010 [MQTT-3.8.1-1].
    r.sendBytes(Buffer.from([0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00]));
    expect(await r.next('disconnect')).toMatchObject({ reasonCode: 0x81 });
    await waitFor(() => r.closed);
    const c = await tb.connect();
    expect(c.connected).toBe(true);
  });

  it('garbage bytes before CONNECT close the socket', async () => {
    tb = await startBroker();
    const r = new RawClient(tb.port, 4);
    raws.push(r);
    await r.ready();
    r.sendBytes(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await waitFor(() => r.closed);
  });

  it('[MQTT-3.3.2-2] wildcard in a PUBLISH topic → DISCONNECT 0x90 (v5), close (v3.1.1)', async () => {
    tb = await startBroker();
    const r5 = await connected(tb.port, 5, 'w5');
    r5.send({ cmd: 'publish', topic: 'a/+/b', payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
    expect(await r5.next('disconnect')).toMatchObject({ reasonCode: 0x90 });
    const r4 = await connected(tb.port, 4, 'w4');
    r4.send({ cmd: 'publish', topic: 'a/#', payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
    await waitFor(() => r4.closed);
  });

  it('[MQTT-1.5.4-1] ill-formed UTF-8 in a topic → DISCONNECT 0x81 (malformed)', async () => {
    tb = await startBroker();
    const r = await connected(tb.port, 5);
    const good = mqttPacket.generate({ cmd: 'publish', topic: 'ab', payload: Buffer.from('x'), qos: 0, retain: false, dup: false }, { protocolVersion: 5 });
    const i = good.indexOf(Buffer.from('ab'));
    good[i] = 0xc3;
    good[i + 1] = 0x28; // invalid 2-byte sequence
    r.sendBytes(good);
    expect(await r.next('disconnect')).toMatchObject({ reasonCode: 0x81 });
  });

  it('oversized packet → DISCONNECT 0x95 as soon as its length is known', async () => {
    tb = await startBroker({ maxPacketSizeBytes: 1_024 });
    const r = await connected(tb.port, 5);
    // Header of a 10 MB PUBLISH, then only a little of it.
    r.sendBytes(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x05, 0x00, 0x01, 0x61]));
    expect(await r.next('disconnect')).toMatchObject({ reasonCode: 0x95 });
    await waitFor(() => r.closed);
  });

  it('oversized CONNECT → closed', async () => {
    tb = await startBroker({ maxPacketSizeBytes: 1_024 });
    const r = new RawClient(tb.port, 4);
    raws.push(r);
    await r.ready();
    r.sendBytes(Buffer.from([0x10, 0xff, 0xff, 0x7f]));
    await waitFor(() => r.closed);
  });

  it('second CONNECT is a protocol error', async () => {
    tb = await startBroker();
    const r = await connected(tb.port, 5);
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'raw', clean: true, keepalive: 0 });
    expect(await r.next('disconnect')).toMatchObject({ reasonCode: 0x82 });
  });

  it('invalid SUBSCRIBE filter → 0x8F for that filter only', async () => {
    tb = await startBroker();
    const r = await connected(tb.port, 5);
    r.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'a/#/b', qos: 0 }, { topic: 'ok/+', qos: 1 }] });
    expect(await r.next('suback')).toMatchObject({ granted: [0x8f, 1] });
  });

  it('slow consumer: QoS 0 dropped and counted, memory bounded, others unaffected', async () => {
    tb = await startBroker({ maxBufferedBytesPerClient: 64 * 1024, maxQueuedMessages: 100 });
    // A subscriber that never reads.
    const slow = await connected(tb.port, 4, 'slow');
    slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/#', qos: 1 }] });
    await slow.next('suback');
    slow.socket.pause();
    const fast = await tb.connect();
    const got = collect(fast);
    await fast.subscribeAsync('flood/#', { qos: 1 });
    const pub = await tb.connect();
    const payload = Buffer.alloc(16_384, 1);
    for (let i = 0; i < 300; i++) {
      pub.publish('flood/x', payload, { qos: 0 });
      await pub.publishAsync('flood/x', payload, { qos: 1 });
    }
    await waitFor(() => got.filter((g) => g.packet.qos === 1).length === 300, 20_000);
    const session = tb.broker.clients().find((c) => c.clientId === 'slow')!;
    expect(session.queued).toBeLessThanOrEqual(100);
    expect(tb.metrics.get('dropped_qos0_slow_consumer')).toBeGreaterThan(0);
    expect(tb.metrics.get('dropped_queue_full')).toBeGreaterThan(0);
  });

  it('flood of connections then mass disconnect: no crash, all cleaned up', async () => {
    // 300 connects from one address at once: above the per-address cap on unanswered CONNECTs,
    // which hostile-input.test.ts covers; this case is about cleanup.
    tb = await startBroker({ maxPendingConnectsPerIp: 1_000 });
    const sockets: net.Socket[] = [];
    const connect = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: '', clean: true, keepalive: 0, username: 'alice', password: Buffer.from('pw-a') });
    const sub = mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'mass/#', qos: 1 }] });
    const pubs = Buffer.concat(Array.from({ length: 20 }, (_, i) => mqttPacket.generate({ cmd: 'publish', topic: 'mass/x', payload: Buffer.from('p'), qos: 1, messageId: i + 1, retain: false, dup: false })));
    await Promise.all(
      Array.from({ length: 300 }, () =>
        new Promise<void>((resolve) => {
          const s = net.connect(tb!.port, '127.0.0.1', () => {
            s.write(Buffer.concat([connect, sub, pubs]));
            resolve();
          });
          s.on('error', () => {});
          s.on('data', () => {});
          sockets.push(s);
        }),
      ),
    );
    await waitFor(() => tb!.broker.stats().connections === 300, 10_000);
    for (const s of sockets) s.destroy();
    await waitFor(() => tb!.broker.stats().connections === 0 && tb!.broker.stats().sessions === 0, 10_000);
    const c = await tb.connect();
    expect(c.connected).toBe(true);
  });
});

describe('protocol errors (v5)', () => {
  it('[MQTT-3.14.2-2] DISCONNECT may not set a Session Expiry when it was 0 → 0x82', async () => {
    tb = await startBroker();
    const r = await connected(tb.port, 5);
    r.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 60 } });
    expect(await r.next('disconnect')).toMatchObject({ reasonCode: 0x82 });
  });

  it('[MQTT-3.8.3-4] No Local on a shared subscription → 0x82', async () => {
    tb = await startBroker();
    const r = await connected(tb.port, 5);
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/t', qos: 0, nl: true }] });
    expect(await r.next('disconnect')).toMatchObject({ reasonCode: 0x82 });
  });

  it('a server-bound-only packet from a client (SUBACK) → 0x82', async () => {
    tb = await startBroker();
    const r = await connected(tb.port, 5);
    r.send({ cmd: 'suback', messageId: 1, granted: [0] });
    expect(await r.next('disconnect')).toMatchObject({ reasonCode: 0x82 });
  });
});

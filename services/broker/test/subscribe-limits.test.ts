/** Hostile SUBSCRIBE: filters per packet and subscriptions per session are capped (0x97 / 0x80). */
import { afterEach, describe, expect, it, vi } from 'vitest';
import mqttPacket from 'mqtt-packet';
import { startBroker, waitFor, RawClient, type TestBroker } from './harness.ts';

let tb: TestBroker | undefined;
const raws: RawClient[] = [];
afterEach(async () => {
  raws.splice(0).forEach((r) => r.close());
  await tb?.close();
  tb = undefined;
});

async function connected(version: 4 | 5, clientId: string): Promise<RawClient> {
  const r = new RawClient(tb!.port, version);
  raws.push(r);
  await r.ready();
  r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId, clean: true, keepalive: 0, username: 'alice', password: Buffer.from('pw-a') });
  await r.next('connack');
  return r;
}

const filters = (n: number, prefix = 'f') => Array.from({ length: n }, (_, i) => ({ topic: `${prefix}/${i}/+`, qos: 1 as const }));

describe('filters per SUBSCRIBE', () => {
  it('default cap 128: the filters beyond it get 0x97 (v5) and are not subscribed', async () => {
    tb = await startBroker();
    const r = await connected(5, 'many');
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: filters(200) });
    const suback = (await r.next('suback')) as mqttPacket.ISubackPacket;
    expect(suback.granted).toEqual([...Array(128).fill(1), ...Array(72).fill(0x97)]);
    expect(tb.broker.clients().find((c) => c.clientId === 'many')!.subscriptions).toBe(128);
    expect(tb.metrics.get('subscribe_quota_exceeded')).toBe(72);
  });

  it('v3.1.1: 0x80 for each filter beyond the configured cap', async () => {
    tb = await startBroker({ maxFiltersPerSubscribe: 3 });
    const r = await connected(4, 'v3');
    r.send({ cmd: 'subscribe', messageId: 2, subscriptions: filters(5) });
    expect(await r.next('suback')).toMatchObject({ granted: [1, 1, 1, 0x80, 0x80] });
  });

  it('100,000 filters in one packet: answered in one SUBACK, only the cap subscribed, the broker keeps serving', async () => {
    tb = await startBroker();
    const r = await connected(5, 'huge');
    const subs = Array.from({ length: 100_000 }, (_, i) => ({ topic: `h/${i}`, qos: 0 as const }));
    r.send({ cmd: 'subscribe', messageId: 3, subscriptions: subs });
    const suback = (await r.next('suback', 10_000)) as mqttPacket.ISubackPacket;
    expect(suback.granted.length).toBe(100_000);
    expect(suback.granted.filter((g) => g === 0).length).toBe(128);
    const other = await tb.connect({ clientId: 'other' });
    expect(other.connected).toBe(true);
  });

  it('past the cap the filters are counted on the raw frame, never parsed: mqtt-packet reads only the first 128', async () => {
    tb = await startBroker();
    const r = await connected(5, 'counted');
    // The parser class is shared by every parser instance (the broker's and this one).
    const parserProto = Object.getPrototypeOf(mqttPacket.parser()) as { _parseString: () => unknown };
    const readString = vi.spyOn(parserProto, '_parseString');
    let stringsRead: number;
    try {
      r.send({ cmd: 'subscribe', messageId: 5, subscriptions: Array.from({ length: 10_000 }, (_, i) => ({ topic: `h/${i}`, qos: 1 as const })) });
      const suback = (await r.next('suback', 10_000)) as mqttPacket.ISubackPacket;
      expect(suback.granted).toEqual([...Array(128).fill(1), ...Array(10_000 - 128).fill(0x97)]);
      stringsRead = readString.mock.calls.length;
    } finally {
      readString.mockRestore();
    }
    // The broker parsed 128 topic filters (the SUBACK parsed by the client has no strings).
    expect(stringsRead).toBe(128);
    expect(tb.metrics.get('subscribe_quota_exceeded')).toBe(10_000 - 128);
    expect(tb.broker.clients().find((c) => c.clientId === 'counted')!.subscriptions).toBe(128);
  });

  it('v5 properties survive the cut: the subscription identifier of a SUBSCRIBE past the cap reaches deliveries', async () => {
    tb = await startBroker({ maxFiltersPerSubscribe: 2 });
    const r = await connected(5, 'ids');
    r.send({ cmd: 'subscribe', messageId: 6, properties: { subscriptionIdentifier: 9 }, subscriptions: filters(4, 'p') });
    expect(await r.next('suback')).toMatchObject({ granted: [1, 1, 0x97, 0x97] });
    r.send({ cmd: 'publish', topic: 'p/1/x', payload: Buffer.from('hi'), qos: 0, retain: false, dup: false });
    expect(await r.next('publish')).toMatchObject({ topic: 'p/1/x', properties: { subscriptionIdentifier: 9 } });
  });

  it('[MQTT-3.8.3-5] a reserved options bit on a filter past the cap is still a malformed packet: DISCONNECT 0x81', async () => {
    tb = await startBroker({ maxFiltersPerSubscribe: 2 });
    const r = await connected(5, 'reserved');
    const frame = mqttPacket.generate({ cmd: 'subscribe', messageId: 7, subscriptions: filters(4) }, { protocolVersion: 5 });
    frame[frame.length - 1] = 0xc1;
    r.sendBytes(frame);
    expect(await r.next('disconnect')).toMatchObject({ reasonCode: 0x81 });
    expect(tb.broker.clients().find((c) => c.clientId === 'reserved')).toBeUndefined();
  });

  it('a SUBSCRIBE above the packet-size cap → DISCONNECT 0x95', async () => {
    tb = await startBroker({ maxPacketSizeBytes: 64 * 1024 });
    const r = await connected(5, 'big');
    r.send({ cmd: 'subscribe', messageId: 4, subscriptions: filters(10_000, 'big') });
    expect(await r.next('disconnect')).toMatchObject({ reasonCode: 0x95 });
    await waitFor(() => r.closed);
  });
});

describe('subscriptions per session', () => {
  it('a new subscription beyond the cap gets 0x97; re-subscribing a held filter still works', async () => {
    tb = await startBroker({ maxSubscriptionsPerSession: 3 });
    const r = await connected(5, 'capped');
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: filters(2) });
    expect(await r.next('suback')).toMatchObject({ granted: [1, 1] });
    r.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'f/0/+', qos: 0 }, { topic: 'x/1', qos: 0 }, { topic: 'x/2', qos: 0 }] });
    expect(await r.next('suback')).toMatchObject({ granted: [0, 0, 0x97] });
    expect(tb.broker.clients().find((c) => c.clientId === 'capped')!.subscriptions).toBe(3);
  });
});

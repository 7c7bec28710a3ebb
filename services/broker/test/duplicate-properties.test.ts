/**
 * [MQTT-2.2.2-2] a repeated v5 property (other than User Property) is a Protocol Error on every
 * packet that carries properties: raw bytes over a socket, since no client library can send one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, collect, waitFor, RawClient, type TestBroker } from './harness.ts';

let tb: TestBroker | undefined;
const raws: RawClient[] = [];
afterEach(async () => {
  raws.splice(0).forEach((r) => r.close());
  await tb?.close();
  tb = undefined;
});

const u16 = (n: number) => [n >> 8, n & 0xff];
const str = (s: string) => [...u16(Buffer.byteLength(s)), ...Buffer.from(s)];
const varint = (n: number) => {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
};
const frame = (first: number, body: number[]) => Buffer.from([first, ...varint(body.length), ...body]);
const props = (...entries: number[][]) => [...varint(entries.flat().length), ...entries.flat()];
const PFI = (v: number) => [0x01, v];
const MEI = (s: number) => [0x02, 0, 0, 0, s];
const contentType = (t: string) => [0x03, ...str(t)];
const reasonString = (t: string) => [0x1f, ...str(t)];
const sessionExpiry = (s: number) => [0x11, 0, 0, 0, s];
const userProp = (k: string, v: string) => [0x26, ...str(k), ...str(v)];

function publishFrame(topic: string, qos: number, id: number, properties: number[], payload: string): Buffer {
  return frame(0x30 | (qos << 1), [...str(topic), ...(qos > 0 ? u16(id) : []), ...properties, ...Buffer.from(payload)]);
}

function connectFrame(clientId: string, properties: number[], will?: { properties: number[]; topic: string }): Buffer {
  const flags = 0x02 | 0x80 | 0x40 | (will ? 0x04 : 0);
  return frame(0x10, [...str('MQTT'), 5, flags, 0, 0, ...properties, ...str(clientId), ...(will ? [...will.properties, ...str(will.topic), ...str('bye')] : []), ...str('alice'), ...str('pw-a')]);
}

async function connected(clientId: string): Promise<RawClient> {
  const r = new RawClient(tb!.port, 5);
  raws.push(r);
  await r.ready();
  r.sendBytes(connectFrame(clientId, props()));
  expect(await r.next('connack')).toMatchObject({ reasonCode: 0 });
  return r;
}

describe('duplicate v5 properties', () => {
  it.each([
    ['Payload Format Indicator', [PFI(1), PFI(1)]],
    ['Payload Format Indicator 0 (mqtt-packet keeps the last)', [PFI(0), PFI(1)]],
    ['Message Expiry Interval', [MEI(0), MEI(60)]],
    ['Content Type', [contentType('text/plain'), contentType('application/json')]],
  ])('PUBLISH with %s twice → DISCONNECT 0x82, no PUBACK, nothing forwarded', async (_name, entries) => {
    tb = await startBroker();
    const sub = await tb.connect({ protocolVersion: 5, clientId: 'sub' });
    const got = collect(sub);
    await sub.subscribeAsync('dup/#', { qos: 1 });
    const r = await connected('pub');
    r.sendBytes(publishFrame('dup/x', 1, 5, props(...entries), 'bad'));
    expect(await r.next('disconnect')).toMatchObject({ reasonCode: 0x82 });
    await waitFor(() => r.closed);
    expect(r.packets.some((p) => p.cmd === 'puback')).toBe(false);
    // Sentinel: a good message after it arrives, the bad one never did.
    const ok = await tb.connect({ protocolVersion: 5, clientId: 'ok' });
    await ok.publishAsync('dup/sentinel', 'ok', { qos: 1 });
    await waitFor(() => got.some((g) => g.topic === 'dup/sentinel'));
    expect(got.map((g) => g.topic)).toEqual(['dup/sentinel']);
  });

  it('QoS 0 PUBLISH with duplicates (the mqtt-packet path too) → 0x82; repeated User Property is fine', async () => {
    tb = await startBroker();
    const sub = await tb.connect({ protocolVersion: 5, clientId: 'sub' });
    const got = collect(sub);
    await sub.subscribeAsync('dup/#', { qos: 0 });
    const good = await connected('good');
    good.sendBytes(publishFrame('dup/users', 1, 1, props(userProp('k', '1'), userProp('k', '2'), contentType('t')), 'fine'));
    expect(await good.next('puback')).toMatchObject({ messageId: 1 });
    const bad = await connected('bad');
    bad.sendBytes(publishFrame('dup/q0', 0, 0, props(userProp('k', '1'), contentType('a'), userProp('k', '2'), contentType('b')), 'bad'));
    expect(await bad.next('disconnect')).toMatchObject({ reasonCode: 0x82 });
    good.sendBytes(publishFrame('dup/sentinel', 0, 0, props(), 'ok'));
    await waitFor(() => got.some((g) => g.topic === 'dup/sentinel'));
    expect(got.map((g) => g.topic)).toEqual(['dup/users', 'dup/sentinel']);
    expect(got[0]!.packet.properties?.userProperties).toEqual({ k: ['1', '2'] });
  });

  it.each([
    ['PUBACK', () => frame(0x40, [...u16(1), 0x00, ...props(reasonString('a'), reasonString('b'))])],
    ['PUBREC', () => frame(0x50, [...u16(1), 0x00, ...props(reasonString('a'), reasonString('b'))])],
    ['PUBREL', () => frame(0x62, [...u16(1), 0x00, ...props(reasonString('a'), reasonString('b'))])],
    ['PUBCOMP', () => frame(0x70, [...u16(1), 0x00, ...props(reasonString('a'), reasonString('b'))])],
    ['SUBSCRIBE', () => frame(0x82, [...u16(1), ...props([0x0b, 1], [0x0b, 2]), ...str('a/b'), 0x01])],
    ['UNSUBSCRIBE', () => frame(0xa2, [...u16(1), ...props(userProp('k', 'v'), reasonString('x'), reasonString('y')), ...str('a/b')])],
    ['DISCONNECT', () => frame(0xe0, [0x00, ...props(sessionExpiry(0), sessionExpiry(0))])],
    ['AUTH', () => frame(0xf0, [0x19, ...props(reasonString('a'), reasonString('b'))])],
  ])('%s with a property twice → DISCONNECT 0x82', async (_name, build) => {
    tb = await startBroker();
    const r = await connected('c');
    r.sendBytes(build());
    expect(await r.next('disconnect')).toMatchObject({ reasonCode: 0x82 });
    await waitFor(() => r.closed);
    expect(tb.metrics.get('protocol_errors')).toBeGreaterThan(0);
  });

  it('SUBSCRIBE with a duplicated Subscription Identifier subscribes nothing', async () => {
    tb = await startBroker();
    const r = await connected('c');
    r.sendBytes(frame(0x82, [...u16(1), ...props([0x0b, 1], [0x0b, 2]), ...str('a/b'), 0x01]));
    expect(await r.next('disconnect')).toMatchObject({ reasonCode: 0x82 });
    expect(r.packets.some((p) => p.cmd === 'suback')).toBe(false);
  });

  it('CONNECT with a property twice → CONNACK 0x82 and close', async () => {
    tb = await startBroker();
    const r = new RawClient(tb.port, 5);
    raws.push(r);
    await r.ready();
    r.sendBytes(connectFrame('c1', props(sessionExpiry(10), sessionExpiry(0))));
    expect(await r.next('connack')).toMatchObject({ reasonCode: 0x82 });
    await waitFor(() => r.closed);
    expect(tb.broker.stats().sessions).toBe(0);
  });

  it('CONNECT whose will properties repeat one → CONNACK 0x82, no session, no will', async () => {
    tb = await startBroker();
    const watcher = await tb.connect({ protocolVersion: 5, clientId: 'w' });
    const got = collect(watcher);
    await watcher.subscribeAsync('will/#');
    const r = new RawClient(tb.port, 5);
    raws.push(r);
    await r.ready();
    r.sendBytes(connectFrame('c2', props(), { properties: props(contentType('a'), contentType('b')), topic: 'will/c2' }));
    expect(await r.next('connack')).toMatchObject({ reasonCode: 0x82 });
    await waitFor(() => r.closed);
    const other = await tb.connect({ protocolVersion: 5, clientId: 'o' });
    await other.publishAsync('will/sentinel', 'ok', { qos: 1 });
    await waitFor(() => got.some((g) => g.topic === 'will/sentinel'));
    expect(got.map((g) => g.topic)).toEqual(['will/sentinel']);
    expect(tb.broker.clients().some((c) => c.clientId === 'c2')).toBe(false);
  });

  it('v3.1.1 is not affected: a PUBLISH is taken as before', async () => {
    tb = await startBroker();
    const r = new RawClient(tb.port, 4);
    raws.push(r);
    await r.ready();
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'v3', clean: true, keepalive: 0, username: 'alice', password: Buffer.from('pw-a') });
    await r.next('connack');
    r.sendBytes(publishFrame('v3/x', 1, 9, [], 'p'));
    expect(await r.next('puback')).toMatchObject({ messageId: 9 });
  });
});

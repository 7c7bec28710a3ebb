import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, clustered, collect, waitFor, RawClient, type Received, type TestBroker } from './harness.ts';

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

describe('publish / subscribe', () => {
  it.each([4, 5] as const)('QoS 0/1/2 end to end, downgraded to the granted QoS (v%i)', async (protocolVersion) => {
    tb = await startBroker();
    const sub = await tb.connect({ protocolVersion });
    const got = collect(sub);
    await sub.subscribeAsync('a/#', { qos: 2 });
    await sub.subscribeAsync('low/+', { qos: 0 });
    const pub = await tb.connect({ protocolVersion });
    await pub.publishAsync('a/0', 'zero', { qos: 0 });
    await pub.publishAsync('a/1', 'one', { qos: 1 });
    await pub.publishAsync('a/2', 'two', { qos: 2 });
    await pub.publishAsync('low/x', 'down', { qos: 2 });
    await waitFor(() => got.length === 4);
    // Sorted: MQTT.js emits a QoS 2 message at PUBREL, so a later QoS 0 one may come first (MQTT orders per topic and QoS).
    expect(got.map((g) => [g.topic, g.payload, g.packet.qos]).sort()).toEqual([
      ['a/0', 'zero', 0],
      ['a/1', 'one', 1],
      ['a/2', 'two', 2],
      ['low/x', 'down', 0],
    ]);
  });

  it('accounts are isolated: same topic, different accounts', async () => {
    tb = await startBroker();
    const a = await tb.connect({ clientId: 'a' });
    const b = await tb.connect({ clientId: 'b', username: 'bob', password: 'pw-b' });
    const gotA = collect(a);
    const gotB = collect(b);
    await a.subscribeAsync('devices/1');
    await b.subscribeAsync('#');
    const a2 = await tb.connect({ clientId: 'a2', username: 'alice2', password: 'pw-a2' });
    await a2.publishAsync('devices/1', 'for-a', { qos: 1 });
    await waitFor(() => gotA.length === 1);
    expect(gotA[0]!.topic).toBe('devices/1');
    // Sentinel: routed after a2's message (a2 had its PUBACK), so b's socket would carry a2's first.
    const b2 = await tb.connect({ clientId: 'b2', username: 'bob', password: 'pw-b' });
    await b2.publishAsync('sentinel', 'b', { qos: 1 });
    await waitFor(() => gotB.length > 0);
    expect(gotB.map((g) => g.topic)).toEqual(['sentinel']);
  });

  it('[MQTT-3.3.5-1] overlapping subscriptions deliver once at the max QoS, with all subscription ids (v5)', async () => {
    tb = await startBroker();
    const sub = await tb.connect({ protocolVersion: 5 });
    const got = collect(sub);
    await sub.subscribeAsync('o/#', { qos: 0, properties: { subscriptionIdentifier: 7 } });
    await sub.subscribeAsync('o/+', { qos: 1, properties: { subscriptionIdentifier: 9 } });
    const pub = await tb.connect({ protocolVersion: 5 });
    await pub.publishAsync('o/x', 'once', { qos: 2 });
    await pub.publishAsync('o/sentinel', 'sentinel', { qos: 2 });
    await waitFor(() => got.some((g) => g.payload === 'sentinel'));
    expect(got.map((g) => g.payload)).toEqual(['once', 'sentinel']);
    expect(got[0]!.packet.qos).toBe(1);
    expect([got[0]!.packet.properties?.subscriptionIdentifier].flat().sort()).toEqual([7, 9]);
  });

  it('retained messages: stored, sent on subscribe with RETAIN=1, deleted by an empty payload', async () => {
    tb = await startBroker();
    const pub = await tb.connect();
    await pub.publishAsync('r/1', 'kept', { qos: 1, retain: true });
    // In a cluster the subscriber's edge mirrors the retained store a little after the PUBACK.
    await tb.retainedEverywhere('r/1', 'kept');
    const s1 = await tb.connect();
    const got = collect(s1);
    await s1.subscribeAsync('r/#');
    await waitFor(() => got.length === 1);
    expect(got[0]!.packet.retain).toBe(true);
    await pub.publishAsync('r/1', '', { qos: 1, retain: true });
    // The deletion has reached every edge once a retained message written after it (by the same
    // edge: its writes are mirrored in order) has, on a topic outside the filter.
    await pub.publishAsync('rmark/1', 'after-delete', { qos: 1, retain: true });
    await tb.retainedEverywhere('rmark/1', 'after-delete');
    const s2 = await tb.connect();
    const got2 = collect(s2);
    await s2.subscribeAsync('r/#');
    // Retained messages are sent right after the SUBACK; a live sentinel comes after them.
    await pub.publishAsync('r/sentinel', 'live', { qos: 1 });
    await waitFor(() => got2.length > 0);
    expect(got2.map((g) => g.topic)).toEqual(['r/sentinel']);
  });

  it('Retain Handling 2 sends no retained; Retain As Published keeps the flag on live messages (v5)', async () => {
    tb = await startBroker();
    const pub = await tb.connect({ protocolVersion: 5 });
    await pub.publishAsync('rh/1', 'kept', { qos: 1, retain: true });
    // In a cluster: on the subscriber's edge too, or Retain Handling 2 would have nothing to hold back.
    await tb.retainedEverywhere('rh/1', 'kept');
    const s = await tb.connect({ protocolVersion: 5 });
    const got = collect(s);
    await s.subscribeAsync('rh/#', { qos: 1, rh: 2, rap: true });
    await pub.publishAsync('rh/1', 'live', { qos: 1, retain: true });
    // The live message is the sentinel: a retained one would have been sent before it.
    await waitFor(() => got.some((g) => g.payload === 'live'));
    expect(got.map((g) => g.payload)).toEqual(['live']);
    expect(got[0]!.packet.retain).toBe(true);
    await tb.retainedEverywhere('rh/1', 'live');
    const s2 = await tb.connect({ protocolVersion: 5 });
    const got2 = collect(s2);
    await s2.subscribeAsync('rh/#', { qos: 1, rh: 0 });
    await waitFor(() => got2.length === 1);
    await pub.publishAsync('rh/1', 'live2', { qos: 1, retain: true });
    await waitFor(() => got2.length === 2);
    expect(got2[1]!.packet.retain).toBe(false);
  });

  it('No Local: a client does not get its own messages back (v5)', async () => {
    tb = await startBroker();
    const c = await tb.connect({ protocolVersion: 5 });
    const got = collect(c);
    await c.subscribeAsync('nl/#', { qos: 1, nl: true });
    await c.publishAsync('nl/1', 'mine', { qos: 1 });
    const other = await tb.connect({ protocolVersion: 5 });
    // 'mine' was routed before 'theirs' (PUBACK awaited), so 'theirs' arriving alone proves No Local.
    await other.publishAsync('nl/1', 'theirs', { qos: 1 });
    await waitFor(() => got.length > 0);
    expect(got.map((g) => g.payload)).toEqual(['theirs']);
  });

  it('shared subscriptions: round-robin within a group, each group gets every message', async () => {
    tb = await startBroker();
    const m1 = await tb.connect({ protocolVersion: 5 });
    const m2 = await tb.connect({ protocolVersion: 5 });
    const other = await tb.connect({ protocolVersion: 4 });
    const g1 = collect(m1);
    const g2 = collect(m2);
    const g3 = collect(other);
    await m1.subscribeAsync('$share/g/jobs/+', { qos: 1 });
    await m2.subscribeAsync('$share/g/jobs/+', { qos: 1 });
    await other.subscribeAsync('$share/h/jobs/#', { qos: 1 });
    const pub = await tb.connect();
    for (let i = 0; i < 10; i++) await pub.publishAsync('jobs/x', `${i}`, { qos: 1 });
    await waitFor(() => g1.length + g2.length === 10 && g3.length === 10);
    // Each message went to one member (the wait above, and nothing more after a sentinel).
    await pub.publishAsync('jobs/sentinel', 'end', { qos: 1 });
    await waitFor(() => g3.length === 11);
    expect(g1.length + g2.length).toBe(11);
    // Across edges NATS picks each message's edge at random (a queue group): an exact split is one edge's round-robin.
    if (!clustered) expect([g1.length, g2.length].sort()).toEqual([5, 6]);
  });

  it('user properties, response topic, correlation data and content type pass through (v5)', async () => {
    tb = await startBroker();
    const s = await tb.connect({ protocolVersion: 5 });
    const got = collect(s);
    await s.subscribeAsync('req/#', { qos: 1 });
    const p = await tb.connect({ protocolVersion: 5 });
    await p.publishAsync('req/1', 'q', {
      qos: 1,
      properties: { userProperties: { k: 'v' }, responseTopic: 'resp/1', correlationData: Buffer.from('cid'), contentType: 'text/plain', payloadFormatIndicator: true },
    });
    await waitFor(() => got.length === 1);
    const props = got[0]!.packet.properties!;
    expect(props.userProperties).toEqual({ k: 'v' });
    expect(props.responseTopic).toBe('resp/1');
    expect(props.correlationData?.toString()).toBe('cid');
    expect(props.contentType).toBe('text/plain');
    expect(props.payloadFormatIndicator).toBe(true);
  });

  it('topic aliases from clients are resolved and not forwarded (v5)', async () => {
    tb = await startBroker();
    const s = await tb.connect({ protocolVersion: 5 });
    const got = collect(s);
    await s.subscribeAsync('alias/#', { qos: 1 });
    const r = new RawClient(tb.port, 5);
    await r.ready();
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'al', clean: true, keepalive: 0, username: 'alice', password: Buffer.from('pw-a') });
    await r.next('connack');
    r.send({ cmd: 'publish', topic: 'alias/one', payload: Buffer.from('1'), qos: 1, messageId: 1, dup: false, retain: false, properties: { topicAlias: 3 } });
    r.send({ cmd: 'publish', topic: '', payload: Buffer.from('2'), qos: 1, messageId: 2, dup: false, retain: false, properties: { topicAlias: 3 } });
    await waitFor(() => got.length === 2);
    expect(got.map((g) => g.topic)).toEqual(['alias/one', 'alias/one']);
    expect(got[1]!.packet.properties?.topicAlias).toBeUndefined();
    // Alias above our maximum → DISCONNECT 0x94.
    r.send({ cmd: 'publish', topic: 'alias/x', payload: Buffer.from('3'), qos: 0, dup: false, retain: false, properties: { topicAlias: 99 } });
    expect(await r.next('disconnect')).toMatchObject({ reasonCode: 0x94 });
    r.close();
  });

  it('message expiry: an expired queued message is not delivered; the remaining lifetime is forwarded', async () => {
    let offsetMs = 0;
    tb = await startBroker({ clock: { nowMs: () => Date.now() + offsetMs } });
    const s = await tb.connect({ protocolVersion: 5, clientId: 'exp', clean: false, properties: { sessionExpiryInterval: 60 } });
    await s.subscribeAsync('e/#', { qos: 1 });
    await s.endAsync();
    const p = await tb.connect({ protocolVersion: 5 });
    await p.publishAsync('e/short', 'gone', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await p.publishAsync('e/long', 'kept', { qos: 1, properties: { messageExpiryInterval: 100 } });
    await tb.crossed();
    offsetMs = 1_100; // the broker's clock moves past the short message's lifetime
    const got: Received[] = [];
    await tb.connect({ protocolVersion: 5, clientId: 'exp', clean: false, properties: { sessionExpiryInterval: 60 } }, got);
    // Queued messages go out right after the CONNACK; a live sentinel comes after them.
    await p.publishAsync('e/sentinel', 'sentinel', { qos: 1 });
    await waitFor(() => got.some((g) => g.payload === 'sentinel'));
    expect(got.map((g) => g.payload)).toEqual(['kept', 'sentinel']);
    expect(got[0]!.packet.properties?.messageExpiryInterval).toBeLessThanOrEqual(99);
  });

  it('unsubscribe stops delivery; v5 UNSUBACK says 0x11 for an unknown filter', async () => {
    tb = await startBroker();
    const c = await tb.connect({ protocolVersion: 5 });
    const got = collect(c);
    await c.subscribeAsync('u/1');
    await c.subscribeAsync('u/sentinel');
    const unsuback = new Promise<number[] | undefined>((resolve) =>
      c.on('packetreceive', (p) => p.cmd === 'unsuback' && resolve((p as { granted?: number[] }).granted)),
    );
    await c.unsubscribeAsync(['u/1', 'u/none']);
    expect(await unsuback).toEqual([0, 0x11]);
    await c.publishAsync('u/1', 'x');
    await c.publishAsync('u/sentinel', 'sentinel');
    await waitFor(() => got.length > 0);
    expect(got.map((g) => g.topic)).toEqual(['u/sentinel']);
  });

  it('Maximum Packet Size of the client: larger messages are not sent to it', async () => {
    tb = await startBroker();
    const small = await tb.connect({ protocolVersion: 5, properties: { maximumPacketSize: 100 } });
    const got = collect(small);
    await small.subscribeAsync('big/#');
    const p = await tb.connect();
    await p.publishAsync('big/1', 'x'.repeat(500));
    await p.publishAsync('big/2', 'ok');
    await waitFor(() => got.length === 1);
    expect(got[0]!.topic).toBe('big/2');
    expect(tb.metrics.get('dropped_too_large')).toBe(1);
  });
});

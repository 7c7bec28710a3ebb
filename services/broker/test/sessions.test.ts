import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, collect, waitFor, RawClient, type Received, type TestBroker } from './harness.ts';

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

const login = { username: 'alice', password: Buffer.from('pw-a') };

describe('sessions and wills', () => {
  it.each([4, 5] as const)('persistent session: subscriptions kept and QoS 1 queued while offline (v%i)', async (protocolVersion) => {
    tb = await startBroker();
    const persistent = protocolVersion === 5 ? { clean: false, properties: { sessionExpiryInterval: 60 } } : { clean: false };
    const s = await tb.connect({ protocolVersion, clientId: 'p1', ...persistent });
    await s.subscribeAsync('q/#', { qos: 1 });
    await s.endAsync();
    const p = await tb.connect({ protocolVersion });
    await p.publishAsync('q/1', 'while-away', { qos: 1 });
    await p.publishAsync('q/0', 'qos0-dropped', { qos: 0 });
    await tb.crossed();
    const got: Received[] = [];
    const s2 = await tb.connect({ protocolVersion, clientId: 'p1', ...persistent }, got);
    expect(s2.connected).toBe(true);
    // Queued messages go out right after the CONNACK; a live sentinel comes after them.
    await p.publishAsync('q/sentinel', 'sentinel', { qos: 1 });
    await waitFor(() => got.some((g) => g.payload === 'sentinel'));
    expect(got.map((g) => g.payload)).toEqual(['while-away', 'sentinel']);
  });

  it('clean start discards the session (sessionPresent=false)', async () => {
    tb = await startBroker();
    const s = await tb.connect({ protocolVersion: 5, clientId: 'c1', clean: false, properties: { sessionExpiryInterval: 60 } });
    await s.subscribeAsync('c/#', { qos: 1 });
    await s.endAsync();
    const s2 = await tb.connect({ protocolVersion: 5, clientId: 'c1', clean: true });
    const got = collect(s2);
    await s2.subscribeAsync('sentinel', { qos: 1 });
    const p = await tb.connect();
    await p.publishAsync('c/1', 'x', { qos: 1 });
    await p.publishAsync('sentinel', 'sentinel', { qos: 1 });
    await waitFor(() => got.length > 0);
    expect(got.map((g) => g.topic)).toEqual(['sentinel']);
  });

  it('session expiry ends an offline session', async () => {
    tb = await startBroker();
    const s = await tb.connect({ protocolVersion: 5, clientId: 'se', clean: false, properties: { sessionExpiryInterval: 1 } });
    await s.subscribeAsync('se/#', { qos: 1 });
    await s.endAsync();
    await waitFor(() => tb!.broker.stats().sessions === 0, 3_000);
  });

  it('unacknowledged QoS 1 is redelivered with DUP on reconnect', async () => {
    tb = await startBroker();
    const r = new RawClient(tb.port, 4);
    await r.ready();
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'redo', clean: false, keepalive: 0, ...login });
    await r.next('connack');
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'rd/#', qos: 1 }] });
    await r.next('suback');
    const p = await tb.connect();
    await p.publishAsync('rd/1', 'again', { qos: 1 });
    const first = (await r.next('publish')) as { dup: boolean; messageId: number };
    expect(first.dup).toBe(false);
    r.close(); // no PUBACK
    await waitFor(() => tb!.broker.clients().length === 1);
    const r2 = new RawClient(tb.port, 4);
    await r2.ready();
    r2.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'redo', clean: false, keepalive: 0, ...login });
    expect(await r2.next('connack')).toMatchObject({ sessionPresent: true });
    const again = (await r2.next('publish')) as { dup: boolean; messageId: number; payload: Buffer };
    expect(again.dup).toBe(true);
    expect(again.messageId).toBe(first.messageId);
    expect(again.payload.toString()).toBe('again');
    r2.close();
  });

  it('QoS 2 inbound duplicate is delivered once', async () => {
    tb = await startBroker();
    const s = await tb.connect();
    const got = collect(s);
    await s.subscribeAsync('d2/#', { qos: 2 });
    const r = new RawClient(tb.port, 4);
    await r.ready();
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'q2', clean: true, keepalive: 0, ...login });
    await r.next('connack');
    const pub = { cmd: 'publish' as const, topic: 'd2/x', payload: Buffer.from('once'), qos: 2 as const, messageId: 5, retain: false, dup: false };
    r.send(pub);
    await r.next('pubrec');
    r.send({ ...pub, dup: true });
    await r.next('pubrec');
    r.send({ cmd: 'pubrel', messageId: 5 });
    await r.next('pubcomp');
    r.send({ cmd: 'publish', topic: 'd2/sentinel', payload: Buffer.from('sentinel'), qos: 0, retain: false, dup: false });
    await waitFor(() => got.some((g) => g.payload === 'sentinel'));
    expect(got.map((g) => g.payload)).toEqual(['once', 'sentinel']);
    r.close();
  });

  it('[MQTT-3.3.4-7] more unacknowledged QoS 2 than our Receive Maximum → DISCONNECT 0x93', async () => {
    tb = await startBroker({ receiveMaximum: 2 });
    const r = new RawClient(tb.port, 5);
    await r.ready();
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'rm', clean: true, keepalive: 0, ...login });
    await r.next('connack');
    for (let id = 1; id <= 3; id++) r.send({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 2, messageId: id, retain: false, dup: false });
    expect(await r.next('disconnect')).toMatchObject({ reasonCode: 0x93 });
    r.close();
  });

  it("the client's Receive Maximum bounds in-flight QoS 1 to it; the rest is queued then sent", async () => {
    tb = await startBroker();
    const r = new RawClient(tb.port, 5);
    await r.ready();
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'win', clean: true, keepalive: 0, ...login, properties: { receiveMaximum: 2 } });
    await r.next('connack');
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'w', qos: 1 }] });
    await r.next('suback');
    const p = await tb.connect();
    for (let i = 0; i < 5; i++) await p.publishAsync('w', `${i}`, { qos: 1 });
    // All five were routed (PUBACKs awaited; in a cluster, once crossed to the subscriber's edge);
    // a PINGRESP written after them is the sentinel.
    await tb.crossed();
    r.send({ cmd: 'pingreq' });
    await r.next('pingresp');
    expect(r.packets.filter((x) => x.cmd === 'publish')).toHaveLength(2);
    const first = (await r.next('publish')) as { messageId: number };
    r.send({ cmd: 'puback', messageId: first.messageId });
    await waitFor(() => r.packets.filter((x) => x.cmd === 'publish').length === 2);
    r.close();
  });

  it('will: published on an abrupt close, not on a normal DISCONNECT', async () => {
    tb = await startBroker();
    const w = await tb.connect();
    const got = collect(w);
    await w.subscribeAsync('will/#');
    const dying = await tb.connect({ clientId: 'dying', will: { topic: 'will/dying', payload: Buffer.from('gone'), qos: 1, retain: false } });
    (dying as unknown as { stream: { destroy(): void } }).stream.destroy();
    await waitFor(() => got.length === 1);
    const polite = await tb.connect({ clientId: 'polite', will: { topic: 'will/polite', payload: Buffer.from('no'), qos: 1, retain: false } });
    await polite.endAsync();
    await waitFor(() => !tb!.broker.clients().some((c) => c.clientId === 'polite'));
    const p = await tb.connect();
    await p.publishAsync('will/sentinel', 'sentinel', { qos: 1 });
    await waitFor(() => got.length === 2);
    expect(got.map((g) => g.topic)).toEqual(['will/dying', 'will/sentinel']);
  });

  it('two-byte PINGREQ and DISCONNECT frames: PINGRESP; a bodiless v5 DISCONNECT discards the will, 0x04 keeps it', async () => {
    tb = await startBroker();
    const w = await tb.connect();
    const got = collect(w);
    await w.subscribeAsync('will2/#');
    const connect = (clientId: string) => ({ cmd: 'connect' as const, protocolId: 'MQTT' as const, protocolVersion: 5 as const, clientId, clean: true, keepalive: 0, ...login, will: { topic: `will2/${clientId}`, payload: Buffer.from('w'), qos: 0 as const, retain: false } });
    const plain = new RawClient(tb.port, 5);
    await plain.ready();
    plain.send(connect('plain'));
    await plain.next('connack');
    plain.sendBytes(Buffer.from([0xc0, 0x00]));
    expect((await plain.next('pingresp')).cmd).toBe('pingresp');
    plain.sendBytes(Buffer.from([0xe0, 0x00])); // Remaining Length 0: reason 0x00, the will discarded
    await waitFor(() => plain.closed);
    const keeps = new RawClient(tb.port, 5);
    await keeps.ready();
    keeps.send(connect('keeps'));
    await keeps.next('connack');
    keeps.sendBytes(Buffer.from([0xe0, 0x01, 0x04])); // 0x04: Disconnect with Will Message
    await waitFor(() => got.length === 1);
    const p = await tb.connect();
    await p.publishAsync('will2/sentinel', 'sentinel', { qos: 1 });
    await waitFor(() => got.length === 2);
    expect(got.map((g) => g.topic)).toEqual(['will2/keeps', 'will2/sentinel']);
  });
  it('will delay: not sent if the session resumes in time; sent after the delay otherwise (v5)', async () => {
    const clock = { t: Date.now(), nowMs: () => clock.t };
    tb = await startBroker({ clock });
    const w = await tb.connect();
    const got = collect(w);
    await w.subscribeAsync('wd/#');
    const die = (client: unknown) => (client as { stream: { destroy(): void } }).stream.destroy();
    const withWill = (clientId: string, topic: string) => ({ protocolVersion: 5 as const, clientId, clean: false, properties: { sessionExpiryInterval: 60 }, will: { topic, payload: Buffer.from('late'), qos: 0 as const, retain: false, properties: { willDelayInterval: 1 } } });
    const c = await tb.connect(withWill('wd', 'wd/x'));
    die(c);
    await waitFor(() => tb!.broker.clients().length === 1);
    clock.t += 300;
    const c2 = await tb.connect(withWill('wd', 'wd/x'));
    // A sentinel client dies now with the same delay: its will arriving proves the delay passed.
    const sentinel = await tb.connect(withWill('wd-s', 'wd/sentinel'));
    die(sentinel);
    await waitFor(() => tb!.broker.clients().length === 2);
    clock.t += 1_100;
    await waitFor(() => got.length > 0);
    expect(got.map((g) => g.topic)).toEqual(['wd/sentinel']);
    die(c2);
    await waitFor(() => tb!.broker.clients().length === 1);
    clock.t += 1_100;
    await waitFor(() => got.length === 2, 3_000);
    expect(got.map((g) => g.topic)).toEqual(['wd/sentinel', 'wd/x']);
  });

  describe('Message Expiry on wills (v5)', () => {
    /** The broker's clock, moved by the test (no real waiting through a lifetime). */
    const fakeClock = () => {
      const c = { t: Date.now(), nowMs: () => c.t };
      return c;
    };
    const die = (c: unknown) => (c as { stream: { destroy(): void } }).stream.destroy();

    it('is published with the will and expires from the retained store like any message', async () => {
      const clock = fakeClock();
      tb = await startBroker({ clock });
      const watcher = await tb.connect({ protocolVersion: 5 });
      const live = collect(watcher);
      await watcher.subscribeAsync('wx/#');
      const dying = await tb.connect({ protocolVersion: 5, clientId: 'wx', will: { topic: 'wx/status', payload: Buffer.from('offline'), qos: 1, retain: true, properties: { messageExpiryInterval: 10 } } });
      die(dying);
      await waitFor(() => live.length === 1);
      expect(live[0]!.packet.properties?.messageExpiryInterval).toBe(10);
      // In a cluster the retained will reaches the other edge's store a little after it was published.
      await tb.retainedEverywhere('wx/status', 'offline');
      // 4 s later a new subscriber gets the retained will with the rest of its lifetime [MQTT-3.3.2-6].
      clock.t += 4_000;
      const early = await tb.connect({ protocolVersion: 5 });
      const gotEarly = collect(early);
      await early.subscribeAsync('wx/status');
      await waitFor(() => gotEarly.length === 1);
      expect(gotEarly[0]!).toMatchObject({ payload: 'offline', packet: { retain: true, properties: { messageExpiryInterval: 6 } } });
      // Past its lifetime it is gone [MQTT-3.3.2-5].
      clock.t += 7_000;
      const late = await tb.connect({ protocolVersion: 5 });
      const gotLate = collect(late);
      await late.subscribeAsync('wx/status');
      // Retained messages go out right after the SUBACK; a live one comes after them.
      await watcher.publishAsync('wx/status', 'live', { qos: 1 });
      await waitFor(() => gotLate.length > 0);
      expect(gotLate.map((g) => g.payload)).toEqual(['live']);
    });

    it('expires in an offline session\'s queue; without the property a will never expires', async () => {
      const clock = fakeClock();
      tb = await startBroker({ clock });
      const persistent = { protocolVersion: 5 as const, clientId: 'wq', clean: false, properties: { sessionExpiryInterval: 3_600 } };
      const s = await tb.connect(persistent);
      await s.subscribeAsync('wq/#', { qos: 1 });
      await s.endAsync();
      const a = await tb.connect({ protocolVersion: 5, clientId: 'wa', will: { topic: 'wq/a', payload: Buffer.from('short'), qos: 1, retain: false, properties: { messageExpiryInterval: 5 } } });
      const b = await tb.connect({ protocolVersion: 5, clientId: 'wb', will: { topic: 'wq/b', payload: Buffer.from('forever'), qos: 1, retain: false } });
      die(a);
      die(b);
      await waitFor(() => tb!.broker.clients().length === 0);
      await tb.crossed();
      clock.t += 6_000;
      const got: Received[] = [];
      await tb.connect(persistent, got);
      const p = await tb.connect({ protocolVersion: 5 });
      await p.publishAsync('wq/sentinel', 'sentinel', { qos: 1 });
      await waitFor(() => got.some((g) => g.payload === 'sentinel'));
      expect(got.map((g) => g.payload)).toEqual(['forever', 'sentinel']);
      expect(got[0]!.packet.properties?.messageExpiryInterval).toBeUndefined();
    });

    it('counts from publication, not from the disconnect: a delayed will keeps its whole lifetime', async () => {
      const clock = fakeClock();
      tb = await startBroker({ clock });
      const watcher = await tb.connect({ protocolVersion: 5 });
      const got = collect(watcher);
      await watcher.subscribeAsync('wd2/#');
      const c = await tb.connect({ protocolVersion: 5, clientId: 'wd2', clean: false, properties: { sessionExpiryInterval: 60 }, will: { topic: 'wd2/x', payload: Buffer.from('late'), qos: 1, retain: false, properties: { willDelayInterval: 30, messageExpiryInterval: 20 } } });
      die(c);
      await waitFor(() => tb!.broker.clients().length === 1);
      clock.t += 31_000; // the will delay has passed: the next sweep publishes it
      await waitFor(() => got.length === 1);
      expect(got[0]!.packet.properties?.messageExpiryInterval).toBe(20);
    });
  });

  it('v5 DISCONNECT 0x04 sends the will', async () => {
    tb = await startBroker();
    const w = await tb.connect();
    const got = collect(w);
    await w.subscribeAsync('w4/#');
    const c = await tb.connect({ protocolVersion: 5, will: { topic: 'w4/x', payload: Buffer.from('bye'), qos: 0, retain: false } });
    await c.endAsync(false, { reasonCode: 0x04 });
    await waitFor(() => got.length === 1);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { startBroker, collect, waitFor, RawClient, type TestBroker } from './harness.ts';

let tb: TestBroker | undefined;
const raws: RawClient[] = [];
afterEach(async () => {
  raws.splice(0).forEach((r) => r.close());
  await tb?.close();
  tb = undefined;
});

async function raw(port: number, version = 4): Promise<RawClient> {
  const r = new RawClient(port, version);
  raws.push(r);
  await r.ready();
  return r;
}

describe('CONNECT / CONNACK', () => {
  it('refuses bad credentials: v5 0x86, v3.1.1 rc 4', async () => {
    tb = await startBroker();
    await expect(tb.connect({ protocolVersion: 5, password: 'nope' })).rejects.toMatchObject({ code: 0x86 });
    await expect(tb.connect({ protocolVersion: 4, password: 'nope' })).rejects.toMatchObject({ code: 4 });
    expect(tb.metrics.get('connects_refused')).toBe(2);
    // Counted by reason too (tollgate_broker_connect_refusals_total{reason}).
    expect(tb.metrics.get('connect_refused_bad_credentials')).toBe(2);
    expect(tb.metrics.get('connect_refused_not_authorized')).toBe(0);
  });

  it('refuses anonymous unless an anonymous principal is configured (v5 0x87, v3 rc 5)', async () => {
    tb = await startBroker();
    await expect(tb.connect({ protocolVersion: 5, username: undefined, password: undefined })).rejects.toMatchObject({ code: 0x87 });
    await expect(tb.connect({ protocolVersion: 4, username: undefined, password: undefined })).rejects.toMatchObject({ code: 5 });
    await tb.close();
    tb = await startBroker({ anonymous: { account: 'acc_anon' } });
    const c = await tb.connect({ username: undefined, password: undefined });
    expect(c.connected).toBe(true);
  });

  it('authz unavailable → v5 0x88, v3 rc 3', async () => {
    const authenticator = { authenticate: async () => ({ allowed: false as const, reason: 'unavailable' as const, unavailable: true }) };
    tb = await startBroker({ authenticator });
    await expect(tb.connect({ protocolVersion: 5 })).rejects.toMatchObject({ code: 0x88 });
    await expect(tb.connect({ protocolVersion: 4 })).rejects.toMatchObject({ code: 3 });
    expect(tb.metrics.get('authz_unavailable')).toBe(2);
  });

  it('an authenticator that throws costs only that connect (0x88)', async () => {
    const authenticator = { authenticate: async () => Promise.reject(new Error('boom')) };
    tb = await startBroker({ authenticator });
    await expect(tb.connect({ protocolVersion: 5 })).rejects.toMatchObject({ code: 0x88 });
  });

  it('v5 zero-length client id gets an assigned id', async () => {
    tb = await startBroker();
    const c = await tb.connect({ protocolVersion: 5, clientId: '' });
    await waitFor(() => tb!.broker.clients().length === 1);
    const id = tb.broker.clients()[0]!.clientId;
    expect(id).toMatch(/^tg-/);
    expect(c.connected).toBe(true);
  });

  it('[MQTT-3.1.3-8] v3.1.1 zero-length id with CleanSession=0 → CONNACK rc 2', async () => {
    tb = await startBroker();
    const r = await raw(tb.port);
    // The codec refuses to build this packet, so clear CleanSession in the flags byte by hand.
    const bytes = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: '', clean: true, keepalive: 0, username: 'alice', password: Buffer.from('pw-a') });
    bytes[9] = bytes[9]! & ~0x02;
    r.sendBytes(bytes);
    const ack = await r.next('connack');
    expect(ack).toMatchObject({ returnCode: 2 });
    await waitFor(() => r.closed);
  });

  it('unsupported protocol level → CONNACK rc 1 and close', async () => {
    tb = await startBroker();
    const r = await raw(tb.port);
    // CONNECT with protocol level 6.
    r.sendBytes(Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 6, 2, 0, 0, 0, 0]));
    const ack = await r.next('connack');
    expect(ack).toMatchObject({ returnCode: 1 });
    await waitFor(() => r.closed);
  });

  it('session takeover: the old connection gets DISCONNECT 0x8E (v5)', async () => {
    tb = await startBroker();
    const first = await tb.connect({ protocolVersion: 5, clientId: 'dup' });
    let reason: number | undefined;
    first.on('disconnect', (p) => (reason = p.reasonCode));
    await tb.connect({ protocolVersion: 5, clientId: 'dup' });
    await waitFor(() => reason !== undefined);
    expect(reason).toBe(0x8e);
    await waitFor(() => tb!.broker.clients().length === 1);
  });

  it('connect timeout: a socket that never sends CONNECT is closed', async () => {
    tb = await startBroker({ connectTimeoutMs: 200 });
    const r = await raw(tb.port);
    await waitFor(() => r.closed, 2_000);
  });

  it('keep-alive: no packets for 1.5× keep-alive → closed (v5 DISCONNECT 0x8D)', async () => {
    tb = await startBroker();
    const r = await raw(tb.port, 5);
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'ka', clean: true, keepalive: 1, username: 'alice', password: Buffer.from('pw-a') });
    await r.next('connack');
    const d = await r.next('disconnect', 3_000);
    expect(d).toMatchObject({ reasonCode: 0x8d });
    await waitFor(() => r.closed);
  });

  it('PINGREQ keeps a connection alive', async () => {
    const clock = { t: Date.now(), nowMs: () => clock.t };
    tb = await startBroker({ clock });
    const login = (clientId: string) => ({ cmd: 'connect' as const, protocolId: 'MQTT' as const, protocolVersion: 4 as const, clientId, clean: true, keepalive: 1, username: 'alice', password: Buffer.from('pw-a') });
    const r = await raw(tb.port, 4);
    r.send(login('ping'));
    await r.next('connack');
    for (let round = 0; round < 2; round++) {
      // A canary with the same keep-alive that never pings: its close proves a sweep ran at the
      // advanced time, and the pinging client survived that very sweep.
      const canary = await raw(tb.port, 4);
      canary.send(login(`canary-${round}`));
      await canary.next('connack');
      for (let i = 0; i < 2; i++) {
        clock.t += 1_000; // under 1.5× keep-alive since the last ping
        r.send({ cmd: 'pingreq' });
        await r.next('pingresp');
      }
      await waitFor(() => canary.closed);
      expect(r.closed).toBe(false);
    }
  });

  it('Server Keep Alive is sent when the client asks for more than the maximum', async () => {
    tb = await startBroker({ maxKeepAliveSeconds: 30 });
    const r = await raw(tb.port, 5);
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'ska', clean: true, keepalive: 300, username: 'alice', password: Buffer.from('pw-a') });
    const ack = (await r.next('connack')) as { properties?: { serverKeepAlive?: number; receiveMaximum?: number; topicAliasMaximum?: number } };
    expect(ack.properties?.serverKeepAlive).toBe(30);
    expect(ack.properties?.receiveMaximum).toBe(64);
    expect(ack.properties?.topicAliasMaximum).toBe(32);
  });

  it('the first packet must be CONNECT', async () => {
    tb = await startBroker();
    const r = await raw(tb.port);
    r.send({ cmd: 'pingreq' });
    await waitFor(() => r.closed);
  });

  it('kick and disconnectWhere close clients with the given reason', async () => {
    tb = await startBroker();
    const a = await tb.connect({ protocolVersion: 5, clientId: 'k1' });
    const b = await tb.connect({ protocolVersion: 5, clientId: 'k2', username: 'bob', password: 'pw-b' });
    const reasons: number[] = [];
    a.on('disconnect', (p) => reasons.push(p.reasonCode ?? -1));
    b.on('disconnect', (p) => reasons.push(p.reasonCode ?? -1));
    expect(tb.broker.clients().map((c) => c.clientId).sort()).toEqual(['k1', 'k2']);
    expect(tb.broker.kick('k1')).toBe(1);
    expect(tb.broker.disconnectWhere((c) => c.account === 'acc_b', 0x87)).toBe(1);
    await waitFor(() => reasons.length === 2);
    expect(reasons.sort()).toEqual([0x87, 0x98]);
  });

  it('a credential that expires disconnects the client (0x87)', async () => {
    // The broker's clock is injected: the credential expires when the test says, however slow the machine.
    const clock = { ms: Date.now(), nowMs: () => clock.ms };
    tb = await startBroker({ clock, users: [{ username: 'temp', password: 'x', account: 'acc_t', expiresAtMs: clock.ms + 60_000 }] });
    const c = await tb.connect({ protocolVersion: 5, username: 'temp', password: 'x' });
    let reason: number | undefined;
    c.on('disconnect', (p) => (reason = p.reasonCode));
    clock.ms += 60_001;
    await waitFor(() => reason !== undefined, 3_000);
    expect(reason).toBe(0x87);
  });

  it('caches credential decisions for the TTL', async () => {
    const { InMemoryAuthenticator } = await import('./doubles/in-memory-authenticator.ts');
    const authenticator = new InMemoryAuthenticator({ users: [{ username: 'u', password: 'p', account: 'acc' }] });
    tb = await startBroker({ authenticator });
    for (let i = 0; i < 3; i++) {
      const c = await tb.connect({ username: 'u', password: 'p', clientId: 'same' });
      await c.endAsync();
    }
    expect(authenticator.calls).toBe(1);
  });

  it('works with mqtt.connectAsync url form (smoke)', async () => {
    tb = await startBroker();
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${tb.port}`, { username: 'alice', password: 'pw-a', reconnectPeriod: 0 });
    const got = collect(c);
    await c.subscribeAsync('x');
    await c.publishAsync('x', 'y');
    await waitFor(() => got.length === 1);
    await c.endAsync();
  });
});

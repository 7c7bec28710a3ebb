/**
 * MQTT 5 enhanced authentication (AUTH, section 4.12): we support no Authentication Method, so a
 * CONNECT naming one is refused with 0x8C, and an AUTH from a client that named none is a Protocol
 * Error. MQTT.js as the client; exact packets in duplex.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryAuthenticator } from './doubles/in-memory-authenticator.ts';
import { defaultUsers, RawClient, startBroker, waitFor, type TestBroker } from './harness.ts';

let tb: TestBroker | undefined;
const raws: RawClient[] = [];
afterEach(async () => {
  raws.splice(0).forEach((r) => r.close());
  await tb?.close();
  tb = undefined;
});

describe('enhanced authentication (v5 AUTH)', () => {
  it('[MQTT-4.12.0-1] a CONNECT with an Authentication Method gets CONNACK 0x8C and is closed, before any credential check', async () => {
    const authenticator = new InMemoryAuthenticator({ users: defaultUsers });
    tb = await startBroker({ authenticator });
    const refused = await tb
      .connect({ protocolVersion: 5, clientId: 'scram', properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: Buffer.from('n,,n=alice,r=abc') } })
      .then(() => undefined, (e: { code?: number }) => e);
    expect(refused).toMatchObject({ code: 0x8c });
    expect(authenticator.calls).toBe(0);
    expect(tb.metrics.get('connects_refused')).toBe(1);
    expect(tb.metrics.get('connect_refused_bad_authentication_method')).toBe(1);
    expect(tb.broker.clients()).toEqual([]);
    // The same client without the method connects with its username and password.
    const ok = await tb.connect({ protocolVersion: 5, clientId: 'scram' });
    expect(ok.connected).toBe(true);
    expect(authenticator.calls).toBe(1);
  });

  it('Authentication Data without an Authentication Method is a Protocol Error (CONNACK 0x82)', async () => {
    tb = await startBroker();
    const r = new RawClient(tb.port, 5);
    raws.push(r);
    await r.ready();
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'ad', clean: true, keepalive: 0, username: 'alice', password: Buffer.from('pw-a'), properties: { authenticationData: Buffer.from('x') } });
    expect(await r.next('connack')).toMatchObject({ reasonCode: 0x82, sessionPresent: false });
    await waitFor(() => r.closed);
  });

  it('[MQTT-4.12.0-7] an AUTH from a client that named no method → DISCONNECT 0x82, close; others unaffected', async () => {
    tb = await startBroker();
    const bystander = await tb.connect({ protocolVersion: 5, clientId: 'bystander' });
    const r = new RawClient(tb.port, 5);
    raws.push(r);
    await r.ready();
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'reauth', clean: true, keepalive: 0, username: 'alice', password: Buffer.from('pw-a') });
    const connack = (await r.next('connack')) as { reasonCode: number; properties?: Record<string, unknown> };
    // [MQTT-4.12.0-6] no method from the client: none in our CONNACK either.
    expect(connack.reasonCode).toBe(0);
    expect(connack.properties?.authenticationMethod).toBeUndefined();
    // A re-authentication attempt [MQTT-4.12.1-1] without an agreed method.
    r.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'SCRAM-SHA-256' } });
    expect(await r.next('disconnect')).toMatchObject({ reasonCode: 0x82 });
    await waitFor(() => r.closed);
    expect(tb.metrics.get('protocol_errors')).toBe(1);
    expect(bystander.connected).toBe(true);
  });

  it('v3.1.1 has no AUTH packet: packet type 15 closes the connection', async () => {
    tb = await startBroker();
    const r = new RawClient(tb.port, 4);
    raws.push(r);
    await r.ready();
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'v3auth', clean: true, keepalive: 0, username: 'alice', password: Buffer.from('pw-a') });
    await r.next('connack');
    r.sendBytes(Buffer.from([0xf0, 0x00]));
    await waitFor(() => r.closed);
  });
});

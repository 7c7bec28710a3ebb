import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type IClientOptions } from 'mqtt';
import { createRpcClient } from '#libs/rpc/index.ts';
import { IdentityService, LoginOutcome, Role } from '#gen/tollgate/identity/v1/identity_pb.js';
import { RawClient } from '../../services/broker/test/harness.ts';
import { startTestMesh, type TestMesh } from '../harness/mesh.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const password = 'correct horse battery staple';

/**
 * Issue 11, item 3, end to end: wrong passwords over MQTT (broker → authz → identity
 * VerifyPassword) must not lock the person out of interactive login — not even from the same address.
 */
describe('MQTT credential failures and interactive login', () => {
  let mesh: TestMesh;
  let identity: ReturnType<typeof createRpcClient<typeof IdentityService>>;
  let mqttPort: number;

  function connectCode(opts: IClientOptions): Promise<number> {
    return new Promise((resolve) => {
      const client = mqtt.connect({ host: '127.0.0.1', port: mqttPort, reconnectPeriod: 0, connectTimeout: 3_000, ...opts });
      client.once('connect', () => {
        client.end(true);
        resolve(0);
      });
      client.once('error', (e: Error & { code?: number }) => {
        client.end(true);
        resolve(typeof e.code === 'number' ? e.code : -1);
      });
    });
  }

  beforeAll(async () => {
    mesh = await startTestMesh();
    identity = createRpcClient(IdentityService, mesh.address('identity'));
    mqttPort = Number(mesh.broker!.mqttAddresses().tcp!.split(':').at(-1));
  });
  afterAll(async () => {
    identity?.close();
    await mesh?.stop();
  });

  it('12 wrong MQTT passwords in a row: refused at the edge after 5, and the user still logs in interactively', async () => {
    const t = await mesh.createTenant('mqtt-lockout');
    const username = `mqtt-user-${Date.now().toString(36)}`;
    await identity.createUser({ username, password, accountId: t.accountId, role: Role.OWNER }, bearer(t.masterToken));
    const codes: number[] = [];
    for (let i = 0; i < 12; i++) codes.push(await connectCode({ protocolVersion: 5, clientId: `guess-${i}`, username, password: `wrong password ${i}` }));
    // Five bad-credential answers from authz (0x86), then the edge refuses by itself (0x87). Under
    // load authz may miss its 200 ms deadline (0x88, not a credential failure, so not counted).
    expect(codes.filter((c) => c === 0x86)).toHaveLength(5);
    const firstThrottled = codes.indexOf(0x87);
    expect(firstThrottled).toBeGreaterThanOrEqual(5);
    expect(codes.slice(firstThrottled).every((c) => c === 0x87)).toBe(true);
    expect(codes.every((c) => c === 0x86 || c === 0x87 || c === 0x88)).toBe(true);
    // Interactive login from the very same address (this process, no peer_ip claimed): allowed.
    const login = await identity.login({ username, password });
    expect(login).toMatchObject({ allowed: true, outcome: LoginOutcome.OK });
    // Identity saw at most the five that passed the edge (its own backoff answers some of those
    // without a row), all on the credential-check channel: no row per refused packet.
    const events = (await identity.listAuditEvents({ accountId: t.accountId, pageSize: 100 }, bearer(t.masterToken))).events;
    const failed = events.filter((e) => e.kind === 'login_failed');
    expect(failed.length).toBeGreaterThanOrEqual(1);
    expect(failed.length).toBeLessThanOrEqual(5);
    expect(failed.every((e) => e.details.channel === 'credential_check')).toBe(true);
    expect(events.filter((e) => e.kind === 'lockout' && e.details.channel !== 'credential_check')).toEqual([]);
  });

  it('an MQTT username with NUL is refused as bad credentials (v5 0x86, v3.1.1 rc 4), not 0x88', async () => {
    for (const version of [5, 4] as const) {
      const r = new RawClient(mqttPort, version);
      await r.ready();
      r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: `nul-${version}`, clean: true, keepalive: 0, username: 'tg_\u0000abc', password: Buffer.from('x') });
      expect(await r.next('connack')).toMatchObject(version === 5 ? { reasonCode: 0x86 } : { returnCode: 4 });
      r.close();
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type ErrorWithReasonCode } from 'mqtt';
import { createRpcClient } from '#libs/rpc/index.ts';
import { AuthzService, Effect, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { Authorization } from '#gen/envoy/service/auth/v3/external_auth_pb.js';
import { AuthService } from '#gen/grpc/auth_pb.js';
import { startTestMesh, type TestMesh } from '../harness/mesh.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

/**
 * "May this token connect?" has one answer (acl-engine.ts `mayConnect`: yes unless a rule denies
 * `connect`), asked by authz's Authenticate; every path that admits a client inherits it. A token
 * whose rules deny `connect` is refused by each of them, and a token with no connect rule at all
 * (the control) is admitted by each — so neither default-deny nor a path that never checks passes.
 */
describe('a token whose rules deny connect is refused on every path', () => {
  let mesh: TestMesh;
  let http: string;
  let authz: ReturnType<typeof createRpcClient<typeof AuthzService>>;
  let denied: string;
  let plain: string;
  let accountId: string;

  beforeAll(async () => {
    mesh = await startTestMesh();
    http = mesh.services.find((s) => s.name === 'authz')!.httpAddress!;
    authz = createRpcClient(AuthzService, mesh.address('authz'));
    const tenant = await mesh.createTenant('connect-policy');
    accountId = tenant.accountId;
    const token = async (rules: { effect: Effect; actions: string[]; resources: string[] }[]) =>
      (await authz.createToken({ accountId, name: 'device', kind: TokenKind.ACL, rules }, bearer(tenant.masterToken))).secret;
    const data = { effect: Effect.ALLOW, actions: ['publish', 'subscribe', 'read'], resources: ['mqtt:devices/#'] };
    denied = await token([data, { effect: Effect.ALLOW, actions: ['read'], resources: ['api:/**'] }, { effect: Effect.DENY, actions: ['connect'], resources: ['mqtt:#'] }]);
    plain = await token([data, { effect: Effect.ALLOW, actions: ['read'], resources: ['api:/**'] }]);
  });
  afterAll(async () => {
    authz?.close();
    await mesh?.stop();
  });

  it('Authenticate refuses it with CONNECT_DENIED and admits the control', async () => {
    const refused = await authz.authenticate({ username: denied, password: '', clientId: 'd1' });
    expect(refused).toMatchObject({ allowed: false, reason: 'CONNECT_DENIED' });
    expect((await authz.authenticate({ username: plain, password: '', clientId: 'd1' })).allowed).toBe(true);
  });

  it('the MQTT edge answers CONNACK 0x87 (MQTT 5) and 5 (MQTT 3.1.1)', async () => {
    const url = `mqtt://${mesh.broker!.mqttAddresses().tcp}`;
    const attempt = (username: string, protocolVersion: 4 | 5) =>
      new Promise<number>((resolve, reject) => {
        const client = mqtt.connect(url, { protocolVersion, clientId: `cp-${protocolVersion}`, username, reconnectPeriod: 0, connectTimeout: 3_000 });
        client.once('connect', () => {
          client.end(true);
          resolve(0);
        });
        client.once('error', (error) => {
          client.end(true);
          const code = (error as ErrorWithReasonCode).code;
          typeof code === 'number' ? resolve(code) : reject(error);
        });
      });
    expect(await attempt(denied, 5)).toBe(0x87);
    expect(await attempt(denied, 4)).toBe(5);
    expect(await attempt(plain, 5)).toBe(0);
  });

  it('RabbitMQ /rabbitmq/user answers deny', async () => {
    const user = async (username: string) => (await fetch(`${http}/rabbitmq/user`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ username, password: '', vhost: accountId, client_id: 'r1' }) })).text();
    expect(await user(denied)).toBe('deny');
    expect(await user(plain)).toBe('allow');
  });

  it('EMQX /emqx/authn answers deny', async () => {
    const authn = async (username: string) => ((await (await fetch(`${http}/emqx/authn`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ clientid: 'e1', username, password: '', peerhost: '127.0.0.1' }) })).json()) as { result: string }).result;
    expect(await authn(denied)).toBe('deny');
    expect(await authn(plain)).toBe('allow');
  });

  it('go-auth refuses it over HTTP (/mosquitto/getuser → 403) and gRPC (AuthService/GetUser → ok=false)', async () => {
    const getuser = async (username: string) => (await fetch(`${http}/mosquitto/getuser`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: '', clientid: 'g1' }) })).status;
    expect(await getuser(denied)).toBe(403);
    expect(await getuser(plain)).toBe(200);
    const goAuth = createRpcClient(AuthService, mesh.address('authz'));
    try {
      expect((await goAuth.getUser({ username: denied, password: '', clientid: 'g1' })).ok).toBe(false);
      expect((await goAuth.getUser({ username: plain, password: '', clientid: 'g1' })).ok).toBe(true);
    } finally {
      goAuth.close();
    }
  });

  it('Envoy Check answers 16 / 401 with reason CONNECT_DENIED', async () => {
    const envoy = createRpcClient(Authorization, mesh.address('authz'));
    const check = (secret: string) =>
      envoy.check({ attributes: { source: { address: { address: { case: 'socketAddress', value: { address: '127.0.0.1', portSpecifier: { case: 'portValue', value: 4000 } } } } }, request: { http: { method: 'GET', path: '/v1/things', headers: { authorization: `Bearer ${secret}` } } } } });
    try {
      const refused = await check(denied);
      expect(refused.status).toMatchObject({ code: 16, message: 'CONNECT_DENIED' });
      expect(refused.httpResponse.case === 'deniedResponse' && refused.httpResponse.value.status?.code).toBe(401);
      expect((await check(plain)).status?.code).toBe(0);
    } finally {
      envoy.close();
    }
  });

  it('Authorize of action connect agrees: allowed without a connect rule, refused with a deny', async () => {
    const connect = async (username: string) => (await authz.authorize({ credential: { username }, action: 'connect', clientId: 'a1' })).allowed;
    expect(await connect(plain)).toBe(true);
    expect(await connect(denied)).toBe(false);
  });
});

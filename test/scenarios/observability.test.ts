import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createRpcClient } from '#libs/rpc/index.ts';
import { AuthzService, Effect, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { IdentityService, Role } from '#gen/tollgate/identity/v1/identity_pb.js';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import type { BufferedSpan } from '#libs/telemetry/index.ts';
import { startTestMesh, type TestMesh } from '../harness/mesh.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

/** Polls `probe` until it returns a value (not undefined) or the deadline passes: no fixed sleeps. */
async function eventually<T>(probe: () => T | undefined | Promise<T | undefined>, deadlineMs = 3_000): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`not within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Issue 13 (production shape), observability: a CONNECT is one trace across broker, authz and
 * identity; the broker's own topic denials reach authz's decision log and decision metric.
 */
describe('observability across the mesh', () => {
  let mesh: TestMesh;
  let authz: ReturnType<typeof createRpcClient<typeof AuthzService>>;
  let identity: ReturnType<typeof createRpcClient<typeof IdentityService>>;
  let mqttUrl: string;
  const clients: MqttClient[] = [];

  const connect = async (opts: IClientOptions) => {
    const client = await mqtt.connectAsync(mqttUrl, { reconnectPeriod: 0, connectTimeout: 5_000, ...opts });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    // Every PUBLISH/SUBSCRIBE traced here, to see the sampled spans too.
    mesh = await startTestMesh({ env: { TOLLGATE_BROKER_TRACE_SAMPLE: '1' } });
    authz = createRpcClient(AuthzService, mesh.address('authz'));
    identity = createRpcClient(IdentityService, mesh.address('identity'));
    mqttUrl = `mqtt://${mesh.broker!.mqttAddresses().tcp}`;
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    authz?.close();
    identity?.close();
    await mesh?.stop();
  });

  it('a password CONNECT is one trace: broker → authz → identity, each span with its own service.name, found by client id', async () => {
    const t = await mesh.createTenant('traced');
    const username = `traced-${Date.now().toString(36)}`;
    const password = 'correct horse battery staple';
    await identity.createUser({ username, password, accountId: t.accountId, role: Role.MEMBER }, bearer(t.masterToken));
    const clientId = `traced-device-${Date.now().toString(36)}`;
    const device = await connect({ protocolVersion: 5, clientId, username, password });
    await device.publishAsync('sensors/t', 'x', { qos: 1 });

    // The device's trace, found by its client id (what an operator searches for).
    const connectSpan = await eventually(() => mesh.telemetry.spans.list().find((s) => s.name === 'MQTT CONNECT' && s.attributes['messaging.client.id'] === clientId));
    expect(connectSpan).toMatchObject({ service: 'broker', parentSpanId: undefined, attributes: { 'tollgate.account': t.accountId, 'mqtt.connect.accepted': true, 'messaging.system': 'mqtt' } });
    const trace = await eventually(() => {
      const spans = mesh.telemetry.spans.list({ traceId: connectSpan.traceId });
      return spans.some((s) => s.service === 'identity' && s.kind === 1) ? spans : undefined;
    });
    const byId = new Map(trace.map((s) => [s.spanId, s]));
    const chain = (span: BufferedSpan): string[] => {
      const parent = span.parentSpanId ? byId.get(span.parentSpanId) : undefined;
      return [...(parent ? chain(parent) : []), `${span.service}:${span.name}`];
    };
    // Server span of identity's VerifyPassword, walked up to the root: every hop linked parent → child.
    const verify = trace.find((s) => s.service === 'identity' && s.kind === 1 && s.name.endsWith('/VerifyPassword'));
    expect(verify).toBeDefined();
    expect(chain(verify!)).toEqual([
      'broker:MQTT CONNECT',
      'broker:tollgate.authz.v1.AuthzService/Authenticate',
      'authz:tollgate.authz.v1.AuthzService/Authenticate',
      'authz:tollgate.identity.v1.IdentityService/VerifyPassword',
      'identity:tollgate.identity.v1.IdentityService/VerifyPassword',
    ]);
    // The sampled PUBLISH span (sampling 1 here) carries the same client id and account.
    const publish = await eventually(() => mesh.telemetry.spans.list().find((s) => s.name === 'MQTT PUBLISH' && s.attributes['messaging.client.id'] === clientId));
    expect(publish).toMatchObject({ service: 'broker', attributes: { 'tollgate.account': t.accountId, 'messaging.destination.name': 'sensors/t' } });
  });

  it("the broker's own denial is in authz's recent decisions (source broker) within a second, and counted on authz's /metrics", async () => {
    const t = await mesh.createTenant('edge-denials');
    const { secret } = await authz.createToken(
      { accountId: t.accountId, name: 'device', kind: TokenKind.ACL, rules: [{ effect: Effect.ALLOW, actions: ['publish', 'subscribe'], resources: ['mqtt:devices/${client_id}/#'] }] },
      bearer(t.masterToken),
    );
    const clientId = `denied-${Date.now().toString(36)}`;
    const device = await connect({ protocolVersion: 5, clientId, username: secret });
    // Decided in the broker by the compiled ACL: authz is not asked. v5 says no with PUBACK 0x87.
    const refused = await device.publishAsync('factory/secret', 'x', { qos: 1 }).then(
      () => 'acknowledged',
      (error: Error & { code?: number }) => error.code,
    );
    expect(refused).toBe(0x87);
    await expect(device.subscribeAsync('factory/#')).rejects.toThrow(/Not authorized/);

    const started = Date.now();
    const denials = await eventually(async () => {
      const { decisions } = await authz.listRecentDecisions({ accountId: t.accountId, denialsOnly: true }, bearer(t.masterToken));
      const mine = decisions.filter((d) => d.source === 'broker' && d.clientId === clientId);
      return mine.length >= 2 ? mine : undefined;
    }, 1_500);
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(denials.map((d) => ({ action: d.action, resource: d.resource, reason: d.reason, allowed: d.allowed, accountId: d.accountId })).sort((a, b) => a.action.localeCompare(b.action))).toEqual([
      { action: 'publish', resource: 'factory/secret', reason: 'NO_MATCHING_RULE', allowed: false, accountId: t.accountId },
      { action: 'subscribe', resource: 'factory/#', reason: 'NO_MATCHING_RULE', allowed: false, accountId: t.accountId },
    ]);

    const authzMetrics = await (await fetch(`${mesh.services.find((s) => s.name === 'authz')!.httpAddress}/metrics`)).text();
    const line = authzMetrics.split('\n').find((l) => l.startsWith('tollgate_authz_decisions_total{') && l.includes('source="broker"') && l.includes('reason="NO_MATCHING_RULE"') && l.includes('result="deny"'));
    expect(line).toBeDefined();
    expect(Number(line!.slice(line!.lastIndexOf(' ') + 1))).toBeGreaterThanOrEqual(2);
    const brokerMetrics = await (await fetch(`${mesh.services.find((s) => s.name === 'broker')!.httpAddress}/metrics`)).text();
    expect(brokerMetrics).toMatch(/^tollgate_broker_decision_reports_total\{[^}]*outcome="sent"[^}]*\} [1-9]/m);
  });

  it('ReportDecisions takes a service credential only: an account master token is refused, a malformed batch names the field', async () => {
    const t = await mesh.createTenant('report-guard');
    const decision = { allowed: false, reason: 'NO_MATCHING_RULE', action: 'publish', resource: 'x', accountId: t.accountId, clientId: 'forged' };
    await expect(authz.reportDecisions({ decisions: [decision] }, bearer(t.masterToken))).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(authz.reportDecisions({ decisions: [decision] })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    const service = bearer(mintServiceCredential(mesh.secretKey, 'broker'));
    await expect(authz.reportDecisions({ decisions: [{ ...decision, action: 'connect' }] }, service)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('decisions[0].action') });
    expect(await authz.reportDecisions({ decisions: [decision] }, service)).toMatchObject({ recorded: 1 });
    const { decisions } = await authz.listRecentDecisions({ accountId: t.accountId, denialsOnly: true }, bearer(t.masterToken));
    expect(decisions.map((d) => [d.source, d.clientId])).toEqual([['broker', 'forged']]);
  });
});

import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRpcClient } from '#libs/rpc/index.ts';
import type { AppError } from '#libs/errors/index.ts';
import { mayAssignRole, mayIssueToken, mayPerform, operations, type Actor, type CredentialKind, type Operation, type Role } from '#libs/policy/role-policy.ts';
import { AuthzService, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { BrokerAdminService } from '#gen/tollgate/broker/v1/broker_pb.js';
import { IdentityService, Role as ProtoRole } from '#gen/tollgate/identity/v1/identity_pb.js';
import { LimitKind, Period, QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { startTestMesh, type TestMesh } from '../harness/mesh.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const protoRole: Record<Role, ProtoRole> = { owner: ProtoRole.OWNER, admin: ProtoRole.ADMIN, member: ProtoRole.MEMBER, viewer: ProtoRole.VIEWER };
const password = () => `Tg-${randomBytes(12).toString('hex')}`;

/**
 * The role table (libs/policy/role-policy.ts, root README "Roles") walked through the real gRPC
 * API: in an account of its own, a user of each role (signed in with an identity access token)
 * and a token of each kind calls one representative RPC per operation on the real identity,
 * authz, quota and broker services; each call must be allowed or refused (PERMISSION_DENIED, or
 * a "no" decision for the data plane) exactly as the table says.
 */
describe('the role table, through every service', () => {
  let mesh: TestMesh;
  let identity: ReturnType<typeof createRpcClient<typeof IdentityService>>;
  let authz: ReturnType<typeof createRpcClient<typeof AuthzService>>;
  let quota: ReturnType<typeof createRpcClient<typeof QuotaService>>;
  let broker: ReturnType<typeof createRpcClient<typeof BrokerAdminService>>;

  beforeAll(async () => {
    mesh = await startTestMesh();
    identity = createRpcClient(IdentityService, mesh.address('identity'));
    authz = createRpcClient(AuthzService, mesh.address('authz'));
    quota = createRpcClient(QuotaService, mesh.address('quota'));
    broker = createRpcClient(BrokerAdminService, mesh.address('broker'));
  });
  afterAll(async () => {
    for (const c of [identity, authz, quota, broker]) c?.close();
    await mesh?.stop();
  });

  /** 'allowed', or 'denied' when refused by policy; anything else (another error) fails the test. */
  async function outcome(call: () => Promise<unknown>): Promise<'allowed' | 'denied'> {
    try {
      const result = (await call()) as { allowed?: boolean; reason?: string } | undefined;
      // Data-plane answers are decisions, not errors: a refusal by role or kind is a "no".
      if (result && result.allowed === false) {
        expect(['ROLE_NOT_ALLOWED', 'KIND_NOT_ALLOWED', 'NO_MATCHING_RULE']).toContain(result.reason);
        return 'denied';
      }
      return 'allowed';
    } catch (error) {
      expect((error as AppError).code).toBe('PERMISSION_DENIED');
      return 'denied';
    }
  }

  it.each<Role>(['owner', 'admin', 'member', 'viewer'])('%s on the MQTT edge (its access token as password): publish only with write, subscribe with read', async (role) => {
    const tenant = await mesh.createTenant(`edge-${role}`);
    const secret = password();
    const username = `edge-${role}-${tenant.accountId}`;
    await identity.createUser({ accountId: tenant.accountId, username, password: secret, role: protoRole[role] }, bearer(tenant.masterToken));
    // The access token as the MQTT password: checked offline by authz (JWKS), like a device's token.
    const login = await identity.login({ username, password: secret, accountId: tenant.accountId });
    const client = await mqtt.connectAsync(`mqtt://${mesh.broker!.mqttAddresses().tcp}`, { protocolVersion: 5, clientId: `edge-${role}`, username, password: login.session!.accessToken, reconnectPeriod: 0, connectTimeout: 3_000 });
    try {
      const subscribed = await client.subscribeAsync('devices/#').then(() => 'allowed', () => 'denied');
      const published = await client.publishAsync('devices/d1/temp', '21', { qos: 1 }).then(() => 'allowed', () => 'denied');
      expect({ subscribed, published }).toEqual({ subscribed: mayPerform(role, 'read') ? 'allowed' : 'denied', published: mayPerform(role, 'write') ? 'allowed' : 'denied' });
    } finally {
      await client.endAsync(true);
    }
  });

  const subjects: (Role | Exclude<CredentialKind, 'service'>)[] = ['owner', 'admin', 'member', 'viewer', 'master', 'standard', 'acl'];

  it.each(subjects)('%s: every operation as the table says', async (subject) => {
    const tenant = await mesh.createTenant(`roles-${subject}`);
    const { accountId } = tenant;
    const master = bearer(tenant.masterToken);
    // The caller's credential: an identity access token for a user of this role, or a token of this kind.
    let credential: string;
    if (subject === 'master' || subject === 'standard' || subject === 'acl') {
      const kind = { master: TokenKind.MASTER, standard: TokenKind.STANDARD, acl: TokenKind.ACL }[subject];
      credential = (await authz.createToken({ accountId, name: subject, kind }, master)).secret;
    } else {
      const secret = password();
      await identity.createUser({ accountId, username: `${subject}-${accountId}`, password: secret, role: protoRole[subject] }, master);
      const login = await identity.login({ username: `${subject}-${accountId}`, password: secret, accountId });
      expect(login.allowed).toBe(true);
      credential = login.session!.accessToken;
    }
    const as = bearer(credential);
    // Targets made by the account's master token, so that no call depends on another's success.
    const suspendable = (await identity.createAccount({ parentId: accountId, name: 'to-suspend' }, master)).account!.id;

    const representative: Record<Operation, () => Promise<unknown>> = {
      read: () => identity.getAccount({ accountId }, as),
      write: () => authz.authorize({ credential: { bearer: credential }, action: 'publish', resource: 'mqtt:devices/d1/temp', clientId: 'd1' }),
      manage_tokens: () => authz.createToken({ accountId, name: 'made', kind: TokenKind.ACL }, as),
      manage_users: () => identity.createUser({ accountId, username: `made-${subject}-${accountId}`, password: password(), role: ProtoRole.VIEWER }, as),
      manage_subaccounts: () => identity.createAccount({ parentId: accountId, name: 'made' }, as),
      manage_limits: () => quota.setLimits({ accountId, limits: [{ metric: 'mqtt.messages.in', kind: LimitKind.RATE, value: 100n, period: Period.SECOND }] }, as),
      suspend: () => identity.suspendAccount({ accountId: suspendable, reason: 'role table' }, as),
      audit_read: () => identity.listAuditEvents({ accountId }, as),
      kick: () => broker.kickClient({ accountId, clientId: 'nobody' }, as),
      manage_owners: () => identity.createUser({ accountId, username: `owner-by-${subject}-${accountId}`, password: password(), role: ProtoRole.OWNER }, as),
    };
    const got: Record<string, string> = {};
    const want: Record<string, string> = {};
    for (const operation of operations) {
      got[operation] = await outcome(representative[operation]);
      want[operation] = mayPerform(subject, operation) ? 'allowed' : 'denied';
    }
    // No escalation: nobody issues a token or hands out a role with more power than their own.
    const actor: Actor = subject === 'master' || subject === 'standard' || subject === 'acl' ? { kind: subject } : { kind: 'user', role: subject };
    got['issue a master token'] = await outcome(() => authz.createToken({ accountId, name: 'master made', kind: TokenKind.MASTER }, as));
    want['issue a master token'] = mayIssueToken(actor, 'master') ? 'allowed' : 'denied';
    got['make an admin'] = await outcome(() => identity.createUser({ accountId, username: `admin-by-${subject}-${accountId}`, password: password(), role: ProtoRole.ADMIN }, as));
    want['make an admin'] = mayAssignRole(actor, null, 'admin').allowed ? 'allowed' : 'denied';
    expect(got).toEqual(want);
  });
});

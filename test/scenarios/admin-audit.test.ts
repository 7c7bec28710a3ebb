import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { rowsOf } from '#libs/db/index.ts';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { createRpcClient } from '#libs/rpc/index.ts';
import { silentLogger } from '#libs/telemetry/index.ts';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { AuthzService, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { BrokerAdminService } from '#gen/tollgate/broker/v1/broker_pb.js';
import { IdentityService, Role, type AuditEvent } from '#gen/tollgate/identity/v1/identity_pb.js';
import { LimitKind, Period, QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { createIdentityApp } from '#services/identity/src/app.ts';
import { startTestMesh, type TestMesh } from '../harness/mesh.ts';

type Client<S extends Parameters<typeof createRpcClient>[0]> = ReturnType<typeof createRpcClient<S>>;

const password = () => `Tg-${randomBytes(12).toString('hex')}`;
const requestId = (what: string) => `req_audit_${what}_${randomBytes(4).toString('hex')}`;
/** A call with a credential and our own request id, which must come back in the audit event. */
const as = (credential: string, id: string) => ({ headers: { authorization: `Bearer ${credential}`, 'x-request-id': id } });

/** The log is written in the background by authz, quota and the broker: wait until `found` holds (bounded). */
async function eventually<T>(read: () => Promise<T>, found: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (found(value) || Date.now() > until) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function listAll(identity: Client<typeof IdentityService>, accountId: string, credential: string, kind = ''): Promise<AuditEvent[]> {
  const res = await identity.listAuditEvents({ accountId, kind, pageSize: 1_000 }, { headers: { authorization: `Bearer ${credential}` } });
  return res.events;
}

describe('every administrative action is audited in identity’s log', () => {
  let mesh: TestMesh;
  let identity: Client<typeof IdentityService>;
  let authz: Client<typeof AuthzService>;
  let quota: Client<typeof QuotaService>;
  let broker: Client<typeof BrokerAdminService>;

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

  it('tokens, limits, kicks, suspend/resume, role changes and key rotation: actor, account, target and request id, no secret', { timeout: 60_000 }, async () => {
    const { accountId, masterToken } = await mesh.createTenant('audited');
    const master = (await authz.authenticate({ bearer: masterToken })).principal!;
    expect(master.tokenId).toMatch(/^tok_/);
    const ownerPassword = password();
    const owner = (await identity.createUser({ accountId, username: `owner-${accountId}`, password: ownerPassword, role: Role.OWNER }, as(masterToken, requestId('owner')))).user!;
    const ownerToken = (await identity.login({ username: `owner-${accountId}`, password: ownerPassword, accountId })).session!.accessToken;
    const memberPassword = password();
    const member = (await identity.createUser({ accountId, username: `member-${accountId}`, password: memberPassword, role: Role.MEMBER }, as(masterToken, requestId('member')))).user!;
    const sub = (await identity.createAccount({ name: 'sub', parentId: accountId }, as(masterToken, requestId('sub')))).account!;

    const ids = {
      create: requestId('create'),
      update: requestId('update'),
      rotate: requestId('rotate'),
      revoke: requestId('revoke'),
      limits: requestId('limits'),
      kick: requestId('kick'),
      suspend: requestId('suspend'),
      resume: requestId('resume'),
      role: requestId('role'),
      keys: requestId('keys'),
    };
    const created = await authz.createToken({ accountId, name: 'audited token', kind: TokenKind.STANDARD }, as(masterToken, ids.create));
    const tokenId = created.token!.id;
    await authz.updateToken({ tokenId, updateMask: ['name'], name: 'renamed' }, as(masterToken, ids.update));
    const rotated = await authz.rotateToken({ tokenId, graceSeconds: 0n }, as(masterToken, ids.rotate));
    await quota.setLimits({ accountId, limits: [{ metric: 'mqtt.messages.in', kind: LimitKind.RATE, value: 1_000n, period: Period.SECOND }] }, as(masterToken, ids.limits));

    // A real device on the MQTT edge, kicked by the owner.
    const device = await mqtt.connectAsync(`mqtt://${mesh.broker!.mqttAddresses().tcp}`, { protocolVersion: 5, clientId: 'audited-device', username: rotated.secret, reconnectPeriod: 0, connectTimeout: 5_000 });
    const gone = new Promise<number | undefined>((resolve) => device.once('disconnect', (packet) => resolve(packet.reasonCode)));
    expect((await broker.kickClient({ accountId, clientId: 'audited-device' }, as(ownerToken, ids.kick))).kicked).toBe(true);
    expect(await gone).toBe(0x98);
    await device.endAsync(true);

    await authz.revokeToken({ tokenId }, as(masterToken, ids.revoke));
    await identity.suspendAccount({ accountId: sub.id, reason: 'audit test' }, as(ownerToken, ids.suspend));
    await identity.resumeAccount({ accountId: sub.id }, as(ownerToken, ids.resume));
    await identity.setMembership({ userId: member.id, accountId, role: Role.VIEWER }, as(ownerToken, ids.role));
    const rotation = await identity.rotateSigningKey({}, as(masterToken, ids.keys));

    const expected = [
      { kind: 'token_created', requestId: ids.create, actorKind: 'master', actorId: master.tokenId, accountId, subjectId: tokenId, source: 'authz' },
      { kind: 'token_updated', requestId: ids.update, actorKind: 'master', actorId: master.tokenId, accountId, subjectId: tokenId, source: 'authz' },
      { kind: 'token_rotated', requestId: ids.rotate, actorKind: 'master', actorId: master.tokenId, accountId, subjectId: tokenId, source: 'authz' },
      { kind: 'token_revoked', requestId: ids.revoke, actorKind: 'master', actorId: master.tokenId, accountId, subjectId: tokenId, source: 'authz' },
      { kind: 'limits_set', requestId: ids.limits, actorKind: 'master', actorId: master.tokenId, accountId, subjectId: 'mqtt.messages.in', source: 'quota' },
      { kind: 'client_kicked', requestId: ids.kick, actorKind: 'user', actorId: owner.id, accountId, subjectId: 'client:audited-device', source: 'broker' },
      { kind: 'account_suspended', requestId: ids.suspend, actorKind: 'user', actorId: owner.id, accountId: sub.id, subjectId: sub.id, source: 'identity' },
      { kind: 'account_unsuspended', requestId: ids.resume, actorKind: 'user', actorId: owner.id, accountId: sub.id, subjectId: sub.id, source: 'identity' },
      { kind: 'role_changed', requestId: ids.role, actorKind: 'user', actorId: owner.id, accountId, subjectId: member.id, source: 'identity' },
      { kind: 'key_rotated', requestId: ids.keys, actorKind: 'master', actorId: master.tokenId, accountId, subjectId: `key:${rotation.kid}`, source: 'identity' },
    ];
    // Read as an account admin would: the owner's own access token, on their account (its subtree included).
    const events = await eventually(
      () => listAll(identity, accountId, ownerToken),
      (all) => expected.every((e) => all.some((a) => a.requestId === e.requestId)),
    );
    for (const e of expected) {
      const matching = events.filter((a) => a.requestId === e.requestId);
      expect(matching.map((a) => ({ kind: a.kind, requestId: a.requestId, actorKind: a.actorKind, actorId: a.actorId, accountId: a.accountId, subjectId: a.subjectId, source: a.source }))).toEqual([e]);
      expect(matching[0]!.outcome).toBe('success');
    }
    expect(events.find((a) => a.requestId === ids.update)!.details).toMatchObject({ token_kind: 'standard', fields: 'name' });
    expect(events.find((a) => a.requestId === ids.limits)!.details).toMatchObject({ limits: 'mqtt.messages.in=rate:1000/second' });
    expect(events.find((a) => a.requestId === ids.kick)!.details).toMatchObject({ reason_code: '0x98', kicked: 'true' });
    expect(events.find((a) => a.requestId === ids.role)!.details).toMatchObject({ from: 'member', to: 'viewer' });

    // Counted on the recording service's own /metrics.
    const authzHttp = mesh.services.find((svc) => svc.name === 'authz')!.httpAddress!;
    expect(await (await fetch(`${authzHttp}/metrics`)).text()).toMatch(/^tollgate_audit_events_total\{[^}]*result="sent"[^}]*\} [1-9]/m);

    // The kind filter narrows to one kind, in this account only.
    const revokes = await listAll(identity, accountId, ownerToken, 'token_revoked');
    expect(revokes.map((e) => e.subjectId)).toEqual([tokenId]);

    // No secret anywhere in the account's log: token secrets, passwords, access tokens.
    const text = JSON.stringify(events.map((e) => ({ ...e, at: undefined })));
    for (const secret of [masterToken, created.secret, rotated.secret, ownerPassword, memberPassword, ownerToken]) {
      expect(secret.length).toBeGreaterThan(10);
      expect(text).not.toContain(secret);
    }
  });

  it('RecordAuditEvents is for mesh services only, each for its own kinds; a secret-looking value is blanked', async () => {
    const { accountId, masterToken } = await mesh.createTenant('record-guard');
    const event = { id: `evt_${randomBytes(16).toString('hex')}`, kind: 'token_revoked', at: timestampFromMs(Date.now()), outcome: 'success', actorKind: 'master', actorSubject: 'tok_x', accountId, target: 'tok_forged', requestId: 'req_forged' };
    await expect(identity.recordAuditEvents({ events: [event] }, { headers: { authorization: `Bearer ${masterToken}` } })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(identity.recordAuditEvents({ events: [event] })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((await listAll(identity, accountId, masterToken)).filter((e) => e.subjectId === 'tok_forged')).toEqual([]);

    // quota may not write authz's kinds; the recording service comes from the credential.
    const asQuota = { headers: { authorization: `Bearer ${mintServiceCredential(mesh.secretKey, 'quota')}` } };
    const refused = await identity.recordAuditEvents({ events: [event] }, asQuota);
    expect(refused).toMatchObject({ recorded: 0, refused: [{ index: 0, field: 'kind' }] });

    const asAuthz = { headers: { authorization: `Bearer ${mintServiceCredential(mesh.secretKey, 'authz')}` } };
    const leaked = randomBytes(32).toString('hex');
    const withSecret = { ...event, id: `evt_${randomBytes(16).toString('hex')}`, target: 'tok_ok', details: { note: leaked, password: 'hunter2', token_kind: 'acl' } };
    expect(await identity.recordAuditEvents({ events: [withSecret, withSecret] }, asAuthz)).toMatchObject({ recorded: 2, refused: [] });
    const stored = (await listAll(identity, accountId, masterToken)).filter((e) => e.subjectId === 'tok_ok');
    expect(stored).toHaveLength(1); // the same id twice is stored once
    expect(stored[0]).toMatchObject({ source: 'authz', actorKind: 'master', actorId: 'tok_x', requestId: 'req_forged' });
    expect(stored[0]!.details).toEqual({ token_kind: 'acl', redacted: 'details.note,details.password' });
    expect(JSON.stringify(stored.map((e) => ({ ...e, at: undefined })))).not.toContain(leaked);
  });
});

describe('identity away while authz revokes a token', () => {
  let mesh: TestMesh;

  beforeAll(async () => {
    mesh = await startTestMesh();
  });
  afterAll(async () => {
    await mesh?.stop();
  });

  it('the revoke succeeds, and its event arrives once identity is back — once', { timeout: 90_000 }, async () => {
    const identityAddress = mesh.address('identity');
    const identity = createRpcClient(IdentityService, identityAddress);
    const authz = createRpcClient(AuthzService, mesh.address('authz'));
    try {
      const { accountId, masterToken } = await mesh.createTenant('offline');
      const { token } = await authz.createToken({ accountId, name: 'doomed', kind: TokenKind.STANDARD }, as(masterToken, requestId('create')));
      const revokeId = requestId('revoke');

      // Warm the credential and account caches, then take identity away.
      await authz.getToken({ tokenId: token!.id }, as(masterToken, requestId('get')));
      await mesh.identity!.stop();
      await expect(identity.getJwks({}, { deadlineMs: 500 })).rejects.toMatchObject({ code: expect.stringMatching(/UNAVAILABLE|DEADLINE_EXCEEDED/) });

      const revoked = await authz.revokeToken({ tokenId: token!.id }, as(masterToken, revokeId));
      expect(revoked.token!.revokedAt).toBeDefined();
      // Not in the log yet: authz holds it.
      const stored = async () => rowsOf(await mesh.database.db.execute(sql`select count(*)::int as n from identity.audit_events where request_id = ${revokeId}`))[0] as { n: number };
      expect(await stored()).toEqual({ n: 0 });

      // Identity back on the same address, over the same database.
      const port = Number(identityAddress.split(':').at(-1));
      const again = createIdentityApp({ listen: { host: '127.0.0.1', grpcPort: port, httpPort: 0 }, peers: mesh.peers, argon2: { memoryCost: 1024, timeCost: 1 } }, { database: mesh.database, logger: silentLogger(), telemetry: mesh.telemetry, secretKey: mesh.secretKey });
      await again.start();
      try {
        const revokes = await eventually(
          () => listAll(identity, accountId, mintServiceCredential(mesh.secretKey, 'console'), 'token_revoked'),
          (events) => events.length > 0,
          45_000,
        );
        expect(revokes.map((e) => ({ subjectId: e.subjectId, requestId: e.requestId, actorKind: e.actorKind }))).toEqual([{ subjectId: token!.id, requestId: revokeId, actorKind: 'master' }]);
        // A sentinel recorded after the revoke arrives, and the revoke is still there once.
        const sentinelId = requestId('sentinel');
        const { token: sentinel } = await authz.createToken({ accountId, name: 'sentinel', kind: TokenKind.STANDARD }, as(masterToken, sentinelId));
        const after = await eventually(
          () => listAll(identity, accountId, mintServiceCredential(mesh.secretKey, 'console')),
          (events) => events.some((e) => e.requestId === sentinelId),
        );
        expect(after.filter((e) => e.requestId === sentinelId).map((e) => e.subjectId)).toEqual([sentinel!.id]);
        expect(after.filter((e) => e.kind === 'token_revoked')).toHaveLength(1);
        expect(await stored()).toEqual({ n: 1 });
      } finally {
        await again.stop();
      }
    } finally {
      identity.close();
      authz.close();
    }
  });
});

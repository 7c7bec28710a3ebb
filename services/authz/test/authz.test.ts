import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timestampFromMs, timestampMs } from '@bufbuild/protobuf/wkt';
import { createRpcClient, PeerDirectory } from '#libs/rpc/index.ts';
import type { AppError } from '#libs/errors/index.ts';
import { silentLogger } from '#libs/telemetry/index.ts';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { AuthzService, Effect, InvalidationKind, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { LimitKind, QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { startTestMesh, type TestMesh } from '../../../test/harness/mesh.ts';
import { createAuthzApp, type AuthzApp } from '../src/app.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe('authz service (real schema, real gRPC)', () => {
  let mesh: TestMesh;
  let authz: ReturnType<typeof createRpcClient<typeof AuthzService>>;
  let serviceHeaders: { headers: { authorization: string } };

  beforeAll(async () => {
    mesh = await startTestMesh({ only: undefined });
    authz = createRpcClient(AuthzService, mesh.address('authz'));
    serviceHeaders = bearer(mintServiceCredential(mesh.secretKey, 'broker'));
  });
  afterAll(async () => {
    authz?.close();
    await mesh?.stop();
  });

  async function aclToken(accountId: string, master: string, rules: { effect: Effect; actions: string[]; resources: string[] }[], extra: Record<string, unknown> = {}) {
    return authz.createToken({ accountId, name: 'device', kind: TokenKind.ACL, rules, ...extra }, bearer(master));
  }

  it('decides publish and subscribe by the acl token rules, with ${client_id}', async () => {
    const t = await mesh.createTenant('acl');
    const dev = await aclToken(t.accountId, t.masterToken, [
      { effect: Effect.ALLOW, actions: ['publish', 'subscribe'], resources: ['mqtt:devices/${client_id}/#'] },
      { effect: Effect.DENY, actions: ['publish', 'subscribe'], resources: ['mqtt:devices/+/secret'] },
    ]);
    const credential = { bearer: dev.secret };
    const pub = await authz.authorizeBatch({ credential, action: 'publish', clientId: 'c1', resources: ['mqtt:devices/c1/temp', 'mqtt:devices/c2/temp', 'mqtt:devices/c1/secret'] });
    expect(pub.decisions.map((d) => [d.allowed, d.reason])).toEqual([
      [true, 'ALLOWED'],
      [false, 'NO_MATCHING_RULE'],
      [false, 'DENIED_BY_RULE'],
    ]);
    const sub = await authz.authorizeBatch({ credential, action: 'subscribe', clientId: 'c1', resources: ['mqtt:devices/c1/+/temp', 'mqtt:devices/+/temp', 'mqtt:devices/c1/#'] });
    expect(sub.decisions.map((d) => d.allowed)).toEqual([true, false, false]);
    // A client id carrying a wildcard never matches a placeholder.
    const injected = await authz.authorize({ credential, action: 'subscribe', clientId: '+', resource: 'mqtt:devices/+/temp' });
    expect(injected.allowed).toBe(false);
    expect(Number(pub.decisions[0]!.cacheTtlMs)).toBeGreaterThan(0);
  });

  it('refuses bad rules and IP masks with the index of the culprit', async () => {
    const t = await mesh.createTenant('bad-rules');
    const bad = (await aclToken(t.accountId, t.masterToken, [{ effect: Effect.ALLOW, actions: ['publish'], resources: ['mqtt:a/#/b'] }]).catch((e: unknown) => e)) as AppError;
    expect(bad.code).toBe('INVALID_ARGUMENT');
    expect(bad.field).toMatch(/^rules\[0\]\.resources\[0\]/);
    const verb = (await aclToken(t.accountId, t.masterToken, [{ effect: Effect.ALLOW, actions: ['fly'], resources: ['mqtt:a'] }]).catch((e: unknown) => e)) as AppError;
    expect(verb.field).toMatch(/^rules\[0\]\.actions\[0\]/);
    const ip = (await authz.createToken({ accountId: t.accountId, kind: TokenKind.STANDARD, ipAllow: ['10.0.0.0/8', '300.1.1.1'] }, bearer(t.masterToken)).catch((e: unknown) => e)) as AppError;
    expect(ip.field).toBe('ip_allow[1]');
  });

  it('enforces the IP allow-list and expiry', async () => {
    const t = await mesh.createTenant('ip');
    const tok = await authz.createToken({ accountId: t.accountId, kind: TokenKind.STANDARD, ipAllow: ['10.100.15.*'] }, bearer(t.masterToken));
    expect((await authz.authenticate({ bearer: tok.secret, peerIp: '10.100.15.7' })).allowed).toBe(true);
    expect(await authz.authenticate({ bearer: tok.secret, peerIp: '10.100.16.7' })).toMatchObject({ allowed: false, reason: 'IP_NOT_ALLOWED' });
    const soon = await authz.createToken({ accountId: t.accountId, kind: TokenKind.STANDARD, expiresAt: timestampFromMs(Date.now() + 600) }, bearer(t.masterToken));
    const ok = await authz.authenticate({ bearer: soon.secret });
    expect(Number(ok.cacheTtlMs)).toBeLessThanOrEqual(600);
    await new Promise((r) => setTimeout(r, 700));
    expect(await authz.authenticate({ bearer: soon.secret })).toMatchObject({ allowed: false, reason: 'TOKEN_EXPIRED' });
  });

  it('checks an Authorize without peer_ip against the address of the connection it came on, and logs that address', async () => {
    const t = await mesh.createTenant('ip-connection');
    const rules = [{ effect: Effect.ALLOW, actions: ['publish'], resources: ['mqtt:a/#'] }];
    const loopback = await aclToken(t.accountId, t.masterToken, rules, { ipAllow: ['127.0.0.0/8'] });
    const elsewhere = await aclToken(t.accountId, t.masterToken, rules, { ipAllow: ['10.0.0.0/8'] });
    const publish = (secret: string, resource: string, peerIp = '') => authz.authorize({ credential: { bearer: secret }, action: 'publish', resource, clientId: 'c1', peerIp });
    expect(await publish(loopback.secret, 'mqtt:a/1')).toMatchObject({ allowed: true, reason: 'ALLOWED' });
    expect(await publish(loopback.secret, 'mqtt:a/2')).toMatchObject({ allowed: true, reason: 'ALLOWED' }); // from the cache
    expect(await publish(elsewhere.secret, 'mqtt:a/1')).toMatchObject({ allowed: false, reason: 'IP_NOT_ALLOWED' });
    expect(await publish(elsewhere.secret, 'mqtt:a/1')).toMatchObject({ allowed: false, reason: 'IP_NOT_ALLOWED' }); // from the cache
    expect(await publish(elsewhere.secret, 'mqtt:a/1', '10.1.2.3')).toMatchObject({ allowed: true, reason: 'ALLOWED' });
    await publish(loopback.secret, 'mqtt:b/1');
    await publish(elsewhere.secret, 'mqtt:b/2', '10.1.2.3');
    const recent = await authz.listRecentDecisions({ accountId: t.accountId, denialsOnly: true }, bearer(t.masterToken));
    expect(recent.decisions.map((d) => [d.resource, d.reason, d.peerIp])).toEqual([
      ['mqtt:b/2', 'NO_MATCHING_RULE', '10.1.2.3'],
      ['mqtt:b/1', 'NO_MATCHING_RULE', '127.0.0.1'],
    ]);
  });

  it('lets a parent master token reach a subaccount only through the account selector', async () => {
    const t = await mesh.createTenant('parent');
    const identity = createRpcClient(IdentityService, mesh.address('identity'));
    const sub = (await identity.createAccount({ name: 'child', parentId: t.accountId }, bearer(t.masterToken))).account!;
    identity.close();
    const implicit = await authz.authorize({ credential: { bearer: t.masterToken }, action: 'publish', resource: 'mqtt:x' });
    expect(implicit.accountId).toBe(t.accountId);
    const explicit = await authz.authorize({ credential: { bearer: t.masterToken }, action: 'publish', resource: 'mqtt:x', accountId: sub.id });
    expect(explicit).toMatchObject({ allowed: true, accountId: sub.id });
    const childMaster = await authz.createToken({ accountId: sub.id, kind: TokenKind.MASTER }, bearer(t.masterToken));
    const upward = await authz.authorize({ credential: { bearer: childMaster.secret }, action: 'publish', resource: 'mqtt:x', accountId: t.accountId });
    expect(upward).toMatchObject({ allowed: false, reason: 'ACCOUNT_NOT_IN_SCOPE', accountId: sub.id });
    const standard = await authz.createToken({ accountId: t.accountId, kind: TokenKind.STANDARD }, bearer(t.masterToken));
    const manage = (await authz.createToken({ accountId: t.accountId, kind: TokenKind.STANDARD }, bearer(standard.secret)).catch((e: unknown) => e)) as AppError;
    expect(manage.code).toBe('PERMISSION_DENIED');
  });

  it('pushes a revoke on WatchInvalidations within 100 ms and replays from a sequence', async () => {
    const t = await mesh.createTenant('feed');
    const tok = await authz.createToken({ accountId: t.accountId, kind: TokenKind.STANDARD }, bearer(t.masterToken));
    // An earlier event, so that the one under test is never the feed's first (resume needs one before it).
    const earlier = await authz.createToken({ accountId: t.accountId, kind: TokenKind.STANDARD }, bearer(t.masterToken));
    await authz.revokeToken({ tokenId: earlier.token!.id }, bearer(t.masterToken));
    const abort = new AbortController();
    const stream = authz.watchInvalidations({}, { ...serviceHeaders, signal: abort.signal })[Symbol.asyncIterator]();
    // The stream is open server-side once an event of a sentinel revoked after asking arrives (no
    // guessed sleep): a fresh sentinel each round, in case a round's revoke came before the stream.
    const opened = stream.next();
    let first: Awaited<typeof opened> | undefined;
    while (!first) {
      const sentinel = await authz.createToken({ accountId: t.accountId, kind: TokenKind.STANDARD }, bearer(t.masterToken));
      await authz.revokeToken({ tokenId: sentinel.token!.id }, bearer(t.masterToken));
      first = await Promise.race([opened, new Promise<undefined>((r) => setTimeout(r, 200, undefined))]);
    }
    // Time from the revoke call to the event; the best of three, so that a busy CI machine's
    // scheduling noise is not taken for the feed's latency.
    const latencies: number[] = [];
    let event!: Awaited<ReturnType<typeof stream.next>>['value'];
    for (const target of [tok, await authz.createToken({ accountId: t.accountId, kind: TokenKind.STANDARD }, bearer(t.masterToken)), await authz.createToken({ accountId: t.accountId, kind: TokenKind.STANDARD }, bearer(t.masterToken))]) {
      const revokedAt = performance.now();
      await authz.revokeToken({ tokenId: target.token!.id }, bearer(t.masterToken));
      event = (await stream.next()).value!;
      while (event.tokenId !== target.token!.id) event = (await stream.next()).value!;
      latencies.push(performance.now() - revokedAt);
      expect(event.kind).toBe(InvalidationKind.TOKEN_REVOKED);
    }
    expect(Math.min(...latencies)).toBeLessThan(100);
    abort.abort();
    // A reconnecting broker resumes after the last sequence it saw and misses nothing.
    const resumed = authz.watchInvalidations({ afterSequence: event.sequence - 1n }, serviceHeaders)[Symbol.asyncIterator]();
    const replayed = (await resumed.next()).value!;
    expect(replayed.sequence).toBe(event.sequence);
    await resumed.return?.(undefined);
    const anonymous = authz.watchInvalidations({})[Symbol.asyncIterator]();
    const refused = (await anonymous.next().catch((e: unknown) => e)) as AppError;
    expect(refused.code).toBe('UNAUTHENTICATED');
  });

  it('a second replica drops its cached decision when another replica revokes (NOTIFY)', async () => {
    const t = await mesh.createTenant('replicas');
    const second: AuthzApp = createAuthzApp(
      { listen: { host: '127.0.0.1', grpcPort: 0, httpPort: 0 }, peers: new PeerDirectory({ identity: mesh.address('identity') }) },
      { database: mesh.database, logger: silentLogger(), telemetry: mesh.telemetry, secretKey: mesh.secretKey },
    );
    const started = await second.start();
    const replica = createRpcClient(AuthzService, started.grpcAddress);
    try {
      const tok = await authz.createToken({ accountId: t.accountId, kind: TokenKind.STANDARD }, bearer(t.masterToken));
      expect((await replica.authenticate({ bearer: tok.secret })).allowed).toBe(true); // now cached there
      await authz.revokeToken({ tokenId: tok.token!.id }, bearer(t.masterToken));
      const deadline = Date.now() + 1_000;
      let answer = await replica.authenticate({ bearer: tok.secret });
      while (answer.allowed && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
        answer = await replica.authenticate({ bearer: tok.secret });
      }
      expect(answer).toMatchObject({ allowed: false, reason: 'TOKEN_REVOKED' });
    } finally {
      replica.close();
      await second.stop();
    }
  });

  it('updates rules (the change takes effect at once) and rotates a secret with a grace period', async () => {
    const t = await mesh.createTenant('update');
    const dev = await aclToken(t.accountId, t.masterToken, [{ effect: Effect.ALLOW, actions: ['publish'], resources: ['mqtt:a'] }]);
    const credential = { bearer: dev.secret };
    expect((await authz.authorize({ credential, action: 'publish', resource: 'mqtt:b' })).allowed).toBe(false);
    await authz.updateToken({ tokenId: dev.token!.id, updateMask: ['rules'], rules: [{ effect: Effect.ALLOW, actions: ['publish'], resources: ['mqtt:b'] }] }, bearer(t.masterToken));
    expect((await authz.authorize({ credential, action: 'publish', resource: 'mqtt:b' })).allowed).toBe(true);
    const badMask = (await authz.updateToken({ tokenId: dev.token!.id, updateMask: ['owner'] }, bearer(t.masterToken)).catch((e: unknown) => e)) as AppError;
    expect(badMask.field).toBe('update_mask[0]');
    const rotated = await authz.rotateToken({ tokenId: dev.token!.id, graceSeconds: 60n }, bearer(t.masterToken));
    expect(rotated.secret).not.toBe(dev.secret);
    expect((await authz.authenticate({ bearer: rotated.secret })).allowed).toBe(true);
    expect((await authz.authenticate({ bearer: dev.secret })).allowed).toBe(true); // within grace
    const hard = await authz.rotateToken({ tokenId: dev.token!.id }, bearer(t.masterToken));
    expect((await authz.authenticate({ bearer: rotated.secret })).reason).toBe('TOKEN_UNKNOWN');
    expect((await authz.authenticate({ bearer: hard.secret })).allowed).toBe(true);
  });

  it('accepts the flespi short form only for tokens created with it', async () => {
    const t = await mesh.createTenant('short');
    const rules = [{ effect: Effect.ALLOW, actions: ['connect', 'publish'], resources: ['mqtt:#'] }];
    const short = await aclToken(t.accountId, t.masterToken, rules, { shortForm: true });
    const ok = await authz.authenticate({ username: short.token!.id, password: short.secret.slice(0, 16) });
    expect(ok.allowed).toBe(true);
    const last = short.secret[15]!;
    const wrong = await authz.authenticate({ username: short.token!.id, password: `${short.secret.slice(0, 15)}${last === 'x' ? 'y' : 'x'}` });
    expect(wrong).toMatchObject({ allowed: false, reason: 'TOKEN_UNKNOWN' });
    const long = await aclToken(t.accountId, t.masterToken, rules);
    expect(await authz.authenticate({ username: long.token!.id, password: long.secret.slice(0, 16) })).toMatchObject({ allowed: false });
  });

  it('enforces a tokens count limit over the whole subtree (quota), naming the limiting account', async () => {
    const t = await mesh.createTenant('counted');
    const identity = createRpcClient(IdentityService, mesh.address('identity'));
    const sub = (await identity.createAccount({ name: 'child', parentId: t.accountId }, bearer(t.masterToken))).account!;
    identity.close();
    const quota = createRpcClient(QuotaService, mesh.address('quota'));
    // The tenant already has its master token: a limit of 3 leaves room for two more, anywhere below.
    await quota.setLimits({ accountId: t.accountId, limits: [{ metric: 'tokens', kind: LimitKind.COUNT, value: 3n }] }, bearer(t.masterToken));
    quota.close();
    await authz.createToken({ accountId: sub.id, kind: TokenKind.STANDARD }, bearer(t.masterToken));
    const second = await authz.createToken({ accountId: t.accountId, kind: TokenKind.STANDARD }, bearer(t.masterToken));
    const over = (await authz.createToken({ accountId: sub.id, kind: TokenKind.STANDARD }, bearer(t.masterToken)).catch((e: unknown) => e)) as AppError;
    expect(over.code).toBe('FAILED_PRECONDITION');
    expect(over.message).toContain(`token limit of 3 set on ${t.accountId}`);
    await authz.revokeToken({ tokenId: second.token!.id }, bearer(t.masterToken));
    expect((await authz.createToken({ accountId: sub.id, kind: TokenKind.STANDARD }, bearer(t.masterToken))).secret).toMatch(/^tg_/);
  });

  it("counts an account's decisions by result and reason and its token-cache lookups (GetDecisionStats), its subtree's when asked", async () => {
    const t = await mesh.createTenant('stats');
    const identity = createRpcClient(IdentityService, mesh.address('identity'));
    // The figures of `child` and `grandchild` are read with the parent's master token, whose own
    // lookups count in the parent's account: the counts below are exactly what the test did.
    const child = (await identity.createAccount({ name: 'stats-child', parentId: t.accountId }, bearer(t.masterToken))).account!;
    const grandchild = (await identity.createAccount({ name: 'stats-grandchild', parentId: child.id }, bearer(t.masterToken))).account!;
    identity.close();
    const stats = (accountId: string, includeSubaccounts = false) => authz.getDecisionStats({ accountId, includeSubaccounts }, bearer(t.masterToken));
    const figures = (s: Awaited<ReturnType<typeof stats>>) => ({
      accounts: s.accounts,
      allowed: Number(s.allowed),
      denied: Number(s.denied),
      byReason: s.deniedByReason.map((r) => [r.reason, Number(r.count)]),
      hits: Number(s.cacheHits),
      misses: Number(s.cacheMisses),
    });
    expect(figures(await stats(child.id))).toEqual({ accounts: 1, allowed: 0, denied: 0, byReason: [], hits: 0, misses: 0 });

    const dev = await aclToken(child.id, t.masterToken, [
      { effect: Effect.ALLOW, actions: ['publish'], resources: ['mqtt:devices/#'] },
      { effect: Effect.DENY, actions: ['publish'], resources: ['mqtt:devices/secret'] },
    ]);
    expect((await authz.authenticate({ bearer: dev.secret })).allowed).toBe(true); // read from Postgres: a miss
    expect((await authz.authenticate({ bearer: dev.secret })).allowed).toBe(true); // a hit
    await authz.authorize({ credential: { bearer: dev.secret }, action: 'publish', resource: 'mqtt:devices/a' }); // hit, allowed
    const batch = await authz.authorizeBatch({ credential: { tokenId: dev.token!.id }, action: 'publish', resources: ['mqtt:devices/b', 'mqtt:other', 'mqtt:devices/secret', 'mqtt:else'] }); // hit
    expect(batch.decisions.map((d) => d.reason)).toEqual(['ALLOWED', 'NO_MATCHING_RULE', 'DENIED_BY_RULE', 'NO_MATCHING_RULE']);
    const std = await authz.createToken({ accountId: grandchild.id, kind: TokenKind.STANDARD }, bearer(t.masterToken));
    await authz.authorize({ credential: { bearer: std.secret }, action: 'publish', resource: 'mqtt:x' }); // miss, allowed
    await authz.authorize({ credential: { bearer: std.secret }, action: 'admin', resource: 'api:/tokens' }); // hit, KIND_NOT_ALLOWED

    const own = await stats(child.id);
    expect(figures(own)).toEqual({ accounts: 1, allowed: 2, denied: 3, byReason: [['NO_MATCHING_RULE', 2], ['DENIED_BY_RULE', 1]], hits: 3, misses: 1 });
    expect(figures(await stats(grandchild.id))).toEqual({ accounts: 1, allowed: 1, denied: 1, byReason: [['KIND_NOT_ALLOWED', 1]], hits: 1, misses: 1 });
    expect(figures(await stats(child.id, true))).toEqual({ accounts: 2, allowed: 3, denied: 4, byReason: [['NO_MATCHING_RULE', 2], ['DENIED_BY_RULE', 1], ['KIND_NOT_ALLOWED', 1]], hits: 4, misses: 2 });
    // This replica's own figures, since it started: who answered and since when.
    expect(own.replicaId).toMatch(/^azr_[0-9a-f]{16}$/);
    expect(timestampMs(own.startedAt!)).toBeLessThanOrEqual(timestampMs(own.at!));

    // Another tenant may not read them, nor may the child's acl token; no credential is refused before the request is looked at.
    const stranger = await mesh.createTenant('stats-stranger');
    const foreign = (await authz.getDecisionStats({ accountId: child.id }, bearer(stranger.masterToken)).catch((e: unknown) => e)) as AppError;
    expect(foreign.code).toBe('PERMISSION_DENIED');
    const upward = (await authz.getDecisionStats({ accountId: t.accountId, includeSubaccounts: true }, bearer(std.secret)).catch((e: unknown) => e)) as AppError;
    expect(upward.code).toBe('PERMISSION_DENIED');
    const anonymous = (await authz.getDecisionStats({ accountId: '' }).catch((e: unknown) => e)) as AppError;
    expect(anonymous.code).toBe('UNAUTHENTICATED');
    const missing = (await authz.getDecisionStats({ accountId: '' }, bearer(t.masterToken)).catch((e: unknown) => e)) as AppError;
    expect(missing).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'account_id' });
    // A subaccount's standard token reads its own account (read is in its kind's rights).
    expect(figures(await authz.getDecisionStats({ accountId: grandchild.id }, bearer(std.secret)))).toMatchObject({ allowed: 1, denied: 1 });
  });

  it('GetDecisionStats answers for the replica asked: another replica counts only what it answered', async () => {
    const t = await mesh.createTenant('stats-replicas');
    const second: AuthzApp = createAuthzApp(
      { listen: { host: '127.0.0.1', grpcPort: 0, httpPort: 0 }, peers: new PeerDirectory({ identity: mesh.address('identity') }) },
      { database: mesh.database, logger: silentLogger(), telemetry: mesh.telemetry, secretKey: mesh.secretKey },
    );
    const started = await second.start();
    const replica = createRpcClient(AuthzService, started.grpcAddress);
    try {
      const dev = await aclToken(t.accountId, t.masterToken, [{ effect: Effect.ALLOW, actions: ['publish'], resources: ['mqtt:a'] }]);
      await replica.authorizeBatch({ credential: { bearer: dev.secret }, action: 'publish', resources: ['mqtt:a', 'mqtt:b'] });
      const here = await authz.getDecisionStats({ accountId: t.accountId }, bearer(t.masterToken));
      const there = await replica.getDecisionStats({ accountId: t.accountId }, bearer(t.masterToken));
      expect(there.replicaId).not.toBe(here.replicaId);
      expect([Number(there.allowed), Number(there.denied)]).toEqual([1, 1]);
      expect([Number(here.allowed), Number(here.denied)]).toEqual([0, 0]);
    } finally {
      replica.close();
      await second.stop();
    }
  });

  it('keeps recent decisions, every denial included, for operators', async () => {
    const t = await mesh.createTenant('recent');
    const dev = await aclToken(t.accountId, t.masterToken, [{ effect: Effect.ALLOW, actions: ['publish'], resources: ['mqtt:ok'] }]);
    await authz.authorize({ credential: { bearer: dev.secret }, action: 'publish', resource: 'mqtt:forbidden', clientId: 'c9' });
    const recent = await authz.listRecentDecisions({ accountId: t.accountId, denialsOnly: true }, bearer(t.masterToken));
    expect(recent.decisions[0]).toMatchObject({ allowed: false, resource: 'mqtt:forbidden', clientId: 'c9', reason: 'NO_MATCHING_RULE' });
  });
});

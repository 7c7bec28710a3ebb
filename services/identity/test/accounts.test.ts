import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { createRpcClient } from '#libs/rpc/index.ts';
import type { AppError } from '#libs/errors/index.ts';
import { AuthzService, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { IdentityService, Role } from '#gen/tollgate/identity/v1/identity_pb.js';
import { LimitKind, QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { startTestMesh, type TestMesh } from '../../../test/harness/mesh.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe('suspending an account (identity → authz → broker)', () => {
  let mesh: TestMesh;
  beforeAll(async () => {
    mesh = await startTestMesh();
  });
  afterAll(async () => {
    await mesh?.stop();
  });

  it('suspends the subtree for every check, disconnects its MQTT clients, and resumes', async () => {
    const t = await mesh.createTenant('suspend');
    const identity = createRpcClient(IdentityService, mesh.address('identity'));
    const authz = createRpcClient(AuthzService, mesh.address('authz'));
    const child = (await identity.createAccount({ name: 'plant', parentId: t.accountId }, bearer(t.masterToken))).account!;
    const childToken = await authz.createToken({ accountId: child.id, kind: TokenKind.STANDARD }, bearer(t.masterToken));
    const device = await mqtt.connectAsync(`mqtt://${mesh.broker!.mqttAddresses().tcp}`, { protocolVersion: 5, clientId: 'plant-dev', username: childToken.secret, reconnectPeriod: 0 });
    const kicked = new Promise<number | undefined>((resolve) => device.once('disconnect', (p) => resolve(p.reasonCode)));
    const suspended = await identity.suspendAccount({ accountId: child.id }, bearer(t.masterToken));
    expect(suspended.account).toMatchObject({ effectivelySuspended: true });
    expect(await kicked).toBe(0x98);
    // authz hears it through the feed: the child's token is refused (within a second).
    const deadline = Date.now() + 1_500;
    let answer = await authz.authenticate({ bearer: childToken.secret });
    while (answer.allowed && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      answer = await authz.authenticate({ bearer: childToken.secret });
    }
    expect(answer).toMatchObject({ allowed: false, reason: 'ACCOUNT_SUSPENDED' });
    const stranger = await mesh.createTenant('stranger');
    const refused = (await identity.resumeAccount({ accountId: child.id }, bearer(stranger.masterToken)).catch((e: unknown) => e)) as AppError;
    expect(refused.code).toBe('PERMISSION_DENIED');
    await identity.resumeAccount({ accountId: child.id }, bearer(t.masterToken));
    await identity.renameAccount({ accountId: child.id, name: 'plant 2' }, bearer(t.masterToken));
    expect((await identity.getAccount({ accountId: child.id }, bearer(t.masterToken))).account).toMatchObject({ name: 'plant 2', effectivelySuspended: false });
    const again = Date.now() + 6_000;
    let back = await authz.authenticate({ bearer: childToken.secret });
    while (!back.allowed && Date.now() < again) {
      await new Promise((r) => setTimeout(r, 100));
      back = await authz.authenticate({ bearer: childToken.secret });
    }
    expect(back.allowed).toBe(true);
    identity.close();
    authz.close();
    device.end(true);
  });
});

describe('ListAccounts pages', () => {
  let mesh: TestMesh;
  beforeAll(async () => {
    mesh = await startTestMesh();
  });
  afterAll(async () => {
    await mesh?.stop();
  });

  it('walks the whole subtree a page at a time, shallowest first, every account once, and refuses a forged page token', async () => {
    const t = await mesh.createTenant('paged');
    const identity = createRpcClient(IdentityService, mesh.address('identity'));
    const as = bearer(t.masterToken);
    // Random ids: deeper accounts' ids sort before shallower ones' about half the time.
    const made: string[] = [];
    for (let i = 0; i < 3; i++) {
      const child = (await identity.createAccount({ name: `c${i}`, parentId: t.accountId }, as)).account!.id;
      made.push(child);
      for (let j = 0; j < 3; j++) made.push((await identity.createAccount({ name: `c${i}-${j}`, parentId: child }, as)).account!.id);
    }
    const seen: { id: string; depth: number }[] = [];
    let pageToken = '';
    do {
      const page = await identity.listAccounts({ rootId: t.accountId, pageSize: 2, pageToken }, as);
      seen.push(...page.accounts.map((a) => ({ id: a.id, depth: a.depth })));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(seen.map((a) => a.id).sort()).toEqual([...made].sort());
    expect(seen.map((a) => a.depth)).toEqual([...seen.map((a) => a.depth)].sort((x, y) => x - y));
    await expect(identity.listAccounts({ rootId: t.accountId, pageSize: 2, pageToken: made[0]! }, as)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('page_token') });
    identity.close();
  });
});

describe('count limits from quota', () => {
  let mesh: TestMesh;
  beforeAll(async () => {
    mesh = await startTestMesh();
  });
  afterAll(async () => {
    await mesh?.stop();
  });

  it('caps subaccounts and users over the whole subtree, naming the limiting account', async () => {
    const t = await mesh.createTenant('counted');
    const identity = createRpcClient(IdentityService, mesh.address('identity'));
    const quota = createRpcClient(QuotaService, mesh.address('quota'));
    await quota.setLimits(
      { accountId: t.accountId, limits: [{ metric: 'subaccounts', kind: LimitKind.COUNT, value: 2n }, { metric: 'users', kind: LimitKind.COUNT, value: 1n }] },
      bearer(t.masterToken),
    );
    const a = (await identity.createAccount({ name: 'a', parentId: t.accountId }, bearer(t.masterToken))).account!;
    await identity.createAccount({ name: 'a1', parentId: a.id }, bearer(t.masterToken));
    const third = (await identity.createAccount({ name: 'b', parentId: t.accountId }, bearer(t.masterToken)).catch((e: unknown) => e)) as AppError;
    expect(third.code).toBe('FAILED_PRECONDITION');
    expect(third.message).toContain(`subaccounts limit of 2 set on ${t.accountId}`);
    await identity.createUser({ username: `u1-${Date.now()}`, password: 'a long enough passphrase', accountId: a.id, role: Role.MEMBER }, bearer(t.masterToken));
    const second = (await identity.createUser({ username: `u2-${Date.now()}`, password: 'a long enough passphrase', accountId: t.accountId, role: Role.MEMBER }, bearer(t.masterToken)).catch((e: unknown) => e)) as AppError;
    expect(second.code).toBe('FAILED_PRECONDITION');
    identity.close();
    quota.close();
  });
});

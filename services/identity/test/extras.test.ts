import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as OTPAuth from 'otpauth';
import { createRpcClient } from '#libs/rpc/index.ts';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import type { AppError } from '#libs/errors/index.ts';
import { IdentityService, LoginOutcome, Permission, Role } from '#gen/tollgate/identity/v1/identity_pb.js';
import { startTestMesh, type TestMesh } from '../../../test/harness/mesh.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe('identity: 2FA, account policy, passwords, memberships, grants', () => {
  let mesh: TestMesh;
  let identity: ReturnType<typeof createRpcClient<typeof IdentityService>>;
  let ip = 0;
  const login = (username: string, password: string, totpCode = '', accountId = '') =>
    identity.login({ username, password, totpCode, accountId, peerIp: `10.88.${Math.floor(ip / 250)}.${(ip++ % 250) + 1}` }, bearer(mintServiceCredential(mesh.secretKey, 'console')));
  const password = 'correct horse battery staple';

  async function user(name: string, accountId: string, master: string, role = Role.OWNER) {
    const username = `${name}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6)}`;
    const res = await identity.createUser({ username, password, accountId, role }, bearer(master));
    return { id: res.user!.id, username };
  }

  beforeAll(async () => {
    mesh = await startTestMesh();
    identity = createRpcClient(IdentityService, mesh.address('identity'));
  });
  afterAll(async () => {
    identity?.close();
    await mesh?.stop();
  });

  it('enrolls TOTP, requires it when the account says so, refuses a replayed code, takes a recovery code', async () => {
    const t = await mesh.createTenant('totp');
    const u = await user('totp', t.accountId, t.masterToken);
    const access = (await login(u.username, password)).session!.accessToken;
    const enrolled = await identity.enrollTotp({ userId: u.id }, bearer(access));
    expect(enrolled.otpauthUri).toMatch(/^otpauth:\/\/totp\//);
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolled.secret), digits: 6, period: 30, algorithm: 'SHA1' });
    const wrong = (await identity.confirmTotp({ userId: u.id, code: '000000' === totp.generate() ? '111111' : '000000' }, bearer(access)).catch((e: unknown) => e)) as AppError;
    expect(wrong.field).toBe('code');
    const firstCode = totp.generate();
    const confirmed = await identity.confirmTotp({ userId: u.id, code: firstCode }, bearer(access));
    expect(confirmed.recoveryCodes).toHaveLength(10);
    await identity.setAccountPolicy({ accountId: t.accountId, requireTotp: true }, bearer(t.masterToken));
    expect(await login(u.username, password)).toMatchObject({ allowed: false, outcome: LoginOutcome.TOTP_REQUIRED });
    // The confirming code used this time step: the same code again is a replay.
    expect(await login(u.username, password, firstCode)).toMatchObject({ allowed: false, outcome: LoginOutcome.TOTP_INVALID });
    await new Promise((r) => setTimeout(r, 1_100)); // the failure's backoff
    expect((await login(u.username, password, confirmed.recoveryCodes[0]!)).allowed).toBe(true);
    const someone = await user('no-2fa', t.accountId, t.masterToken, Role.MEMBER);
    expect(await login(someone.username, password)).toMatchObject({ allowed: false, outcome: LoginOutcome.TOTP_ENROLLMENT_REQUIRED });
  });

  it('changes a password (every session ends), protects the last owner, switches only into own accounts', async () => {
    const t = await mesh.createTenant('account-ops');
    const u = await user('ops', t.accountId, t.masterToken);
    const session = (await login(u.username, password)).session!;
    const other = await mesh.createTenant('elsewhere');
    const sub = (await identity.createAccount({ name: 'sub', parentId: t.accountId }, bearer(t.masterToken))).account!;
    await identity.setMembership({ userId: u.id, accountId: sub.id, role: Role.VIEWER }, bearer(t.masterToken));
    expect(await identity.switchAccount({ refreshToken: session.refreshToken, accountId: other.accountId })).toMatchObject({ allowed: false, reason: 'NOT_A_MEMBER' });
    const switched = await identity.switchAccount({ refreshToken: session.refreshToken, accountId: sub.id });
    expect(switched).toMatchObject({ allowed: true, session: { accountId: sub.id } });
    const lastOwner = (await identity.removeMembership({ userId: u.id, accountId: t.accountId }, bearer(t.masterToken)).catch((e: unknown) => e)) as AppError;
    expect(lastOwner.code).toBe('FAILED_PRECONDITION');
    await identity.removeMembership({ userId: u.id, accountId: sub.id }, bearer(t.masterToken));
    const admin = await user('admin', t.accountId, t.masterToken, Role.ADMIN);
    const adminToken = (await login(admin.username, password)).session!.accessToken;
    const noOwner = (await identity.setMembership({ userId: admin.id, accountId: t.accountId, role: Role.OWNER }, bearer(adminToken)).catch((e: unknown) => e)) as AppError;
    expect(noOwner.code).toBe('PERMISSION_DENIED');
    const events = await identity.listAuditEvents({ accountId: sub.id, kind: 'member_added' }, bearer(t.masterToken));
    expect(events.events.map((e) => e.subjectId)).toContain(u.id);
    expect((await identity.listAuditEvents({ accountId: sub.id, kind: 'member_removed' }, bearer(t.masterToken))).events.map((e) => e.subjectId)).toContain(u.id);
    // An admin of the user's account (here the master token) may change it, with the current password.
    const asMaster = bearer(t.masterToken);
    const weak = (await identity.changePassword({ userId: u.id, currentPassword: password, newPassword: 'short' }, asMaster).catch((e: unknown) => e)) as AppError;
    expect(weak.field).toBe('new_password');
    await identity.changePassword({ userId: u.id, currentPassword: password, newPassword: 'another long passphrase' }, asMaster);
    expect((await identity.refreshSession({ refreshToken: switched.session!.refreshToken })).allowed).toBe(false);
    expect((await login(u.username, 'another long passphrase')).allowed).toBe(true);
    // A wrong current password counts against the (username, address) login throttle (no unthrottled oracle).
    const badOld = (await identity.changePassword({ userId: u.id, currentPassword: 'not it at all', newPassword: 'yet another passphrase' }, asMaster).catch((e: unknown) => e)) as AppError;
    expect(badOld).toMatchObject({ code: 'PERMISSION_DENIED', reason: 'INVALID_CREDENTIALS' });
    const held = (await identity.changePassword({ userId: u.id, currentPassword: 'another long passphrase', newPassword: 'yet another passphrase' }, asMaster).catch((e: unknown) => e)) as AppError;
    expect(held).toMatchObject({ code: 'RESOURCE_EXHAUSTED', reason: 'LOCKED_OUT' });
  });

  it('hides a restricted resource from members without a grant', async () => {
    const t = await mesh.createTenant('grants');
    const member = await user('member', t.accountId, t.masterToken, Role.MEMBER);
    const check = (permission: Permission) => identity.checkResourceAccess({ userId: member.id, accountId: t.accountId, resourceId: 'dataset-7', permission }, bearer(t.masterToken));
    expect(await check(Permission.WRITE)).toMatchObject({ allowed: true, reason: 'ALLOWED_BY_ROLE' });
    await identity.setResourceRestricted({ accountId: t.accountId, resourceId: 'dataset-7', restricted: true }, bearer(t.masterToken));
    expect(await check(Permission.READ)).toMatchObject({ allowed: false, reason: 'RESTRICTED' });
    await identity.grantResourceAccess({ accountId: t.accountId, resourceId: 'dataset-7', userId: member.id, permission: Permission.READ }, bearer(t.masterToken));
    expect(await check(Permission.READ)).toMatchObject({ allowed: true, reason: 'ALLOWED_BY_GRANT' });
    expect((await check(Permission.WRITE)).allowed).toBe(false);
    const listed = await identity.listResourceGrants({ accountId: t.accountId, resourceId: 'dataset-7' }, bearer(t.masterToken));
    expect(listed).toMatchObject({ restricted: true, grants: [{ userId: member.id, permission: Permission.READ }] });
    await identity.revokeResourceAccess({ accountId: t.accountId, resourceId: 'dataset-7', userId: member.id }, bearer(t.masterToken));
    expect((await check(Permission.READ)).allowed).toBe(false);
  });
});

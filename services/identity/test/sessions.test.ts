import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { createRpcClient } from '#libs/rpc/index.ts';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { AuthzService, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { IdentityService, LoginOutcome, Role } from '#gen/tollgate/identity/v1/identity_pb.js';
import { startTestMesh, type TestMesh } from '../../../test/harness/mesh.ts';
import { ACCESS_TOKEN_AUDIENCE } from '../src/app.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe('identity sessions (real schema, real gRPC and HTTP)', () => {
  let mesh: TestMesh;
  let identity: ReturnType<typeof createRpcClient<typeof IdentityService>>;
  let httpBase: string;
  let ipSeq = 0;
  /** Each login from its own address (said by a mesh service), so tests do not share the per-IP throttle. */
  const login = (username: string, password: string, peerIp = `10.77.${Math.floor(ipSeq / 250)}.${(ipSeq++ % 250) + 1}`) =>
    identity.login({ username, password, peerIp }, bearer(mintServiceCredential(mesh.secretKey, 'console')));

  async function user(name: string, role = Role.OWNER) {
    const t = await mesh.createTenant(name);
    const username = `${name}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6)}`;
    const password = 'correct horse battery staple';
    await identity.createUser({ username, password, accountId: t.accountId, role }, bearer(t.masterToken));
    return { ...t, username, password };
  }

  beforeAll(async () => {
    mesh = await startTestMesh();
    identity = createRpcClient(IdentityService, mesh.address('identity'));
    httpBase = mesh.services.find((s) => s.name === 'identity')!.httpAddress!;
  });
  afterAll(async () => {
    identity?.close();
    await mesh?.stop();
  });

  it('logs in with an EdDSA access token an independent verifier accepts from the JWKS URL alone', async () => {
    const u = await user('jwt');
    const res = await login(u.username, u.password);
    expect(res).toMatchObject({ allowed: true, outcome: LoginOutcome.OK });
    const token = res.session!.accessToken;
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'EdDSA' });
    expect(decodeProtectedHeader(token).kid).toBeTruthy();
    const discovery = (await (await fetch(`${httpBase}/.well-known/openid-configuration`)).json()) as { issuer: string; jwks_uri: string };
    const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(discovery.jwks_uri)), { issuer: discovery.issuer, audience: ACCESS_TOKEN_AUDIENCE });
    expect(payload).toMatchObject({ sub: expect.stringMatching(/^usr_/), acc: u.accountId, roles: ['owner'] });
    expect((payload.exp! - payload.iat!) * 1000).toBe(6 * 3_600_000);
  });

  it('is accepted by authz offline: Authenticate, Authorize by role, and managing tokens as an owner', async () => {
    const u = await user('authz-jwt');
    const access = (await login(u.username, u.password)).session!.accessToken;
    const authz = createRpcClient(AuthzService, mesh.address('authz'));
    const who = await authz.authenticate({ bearer: access });
    expect(who).toMatchObject({ allowed: true, principal: { accountId: u.accountId } });
    expect((await authz.authorize({ credential: { bearer: access }, action: 'admin', resource: 'api:/tokens' })).allowed).toBe(true);
    const made = await authz.createToken({ accountId: u.accountId, kind: TokenKind.STANDARD }, bearer(access));
    expect(made.secret).toMatch(/^tg_/);
    // Flip one character in the middle of the signature (the last ones carry padding bits).
    const cut = access.lastIndexOf('.') + 20;
    const tampered = `${access.slice(0, cut)}${access[cut] === 'A' ? 'B' : 'A'}${access.slice(cut + 1)}`;
    expect((await authz.authenticate({ bearer: tampered })).allowed).toBe(false);
    const viewer = await user('viewer', Role.VIEWER);
    const viewerToken = (await login(viewer.username, viewer.password)).session!.accessToken;
    expect((await authz.authorize({ credential: { bearer: viewerToken }, action: 'publish', resource: 'mqtt:x' })).reason).toBe('ROLE_NOT_ALLOWED');
    authz.close();
  });

  it('lets users administer by role with their access token: owner/admin write, viewer reads, never another tree', async () => {
    const owner = await user('roles-owner');
    const ownerToken = (await login(owner.username, owner.password)).session!.accessToken;
    const sub = await identity.createAccount({ name: 'made by a user', parentId: owner.accountId }, bearer(ownerToken));
    expect(sub.account!.parentId).toBe(owner.accountId);
    const viewer = await user('roles-viewer', Role.VIEWER);
    const viewerToken = (await login(viewer.username, viewer.password)).session!.accessToken;
    expect((await identity.getAccount({ accountId: viewer.accountId }, bearer(viewerToken))).account!.id).toBe(viewer.accountId);
    await expect(identity.createAccount({ name: 'nope', parentId: viewer.accountId }, bearer(viewerToken))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    await expect(identity.getAccount({ accountId: owner.accountId }, bearer(viewerToken))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
  });

  it('answers wrong passwords and unknown users alike; a client cannot choose its own address', async () => {
    // Backoff, lockout and their audit run on an injected clock in clocked.test.ts (no real waiting).
    const u = await user('lockout');
    const wrong = await login(u.username, 'wrong password 123');
    const unknown = await login(`nobody-${Date.now()}`, 'wrong password 123');
    expect(wrong).toMatchObject({ allowed: false, outcome: LoginOutcome.INVALID_CREDENTIALS });
    expect(unknown).toMatchObject({ allowed: false, outcome: LoginOutcome.INVALID_CREDENTIALS });
    // Without a service credential peer_ip is ignored: the spoofed address gets no login of its own.
    const spoofed = await identity.login({ username: u.username, password: 'wrong password 123', peerIp: '203.0.113.9' });
    expect(spoofed.allowed).toBe(false);
  });

  it('rotates refresh tokens, and a reused one revokes the whole family', async () => {
    const u = await user('refresh');
    const first = (await login(u.username, u.password)).session!;
    const second = await identity.refreshSession({ refreshToken: first.refreshToken });
    expect(second.allowed).toBe(true);
    expect(second.session!.refreshToken).not.toBe(first.refreshToken);
    const reused = await identity.refreshSession({ refreshToken: first.refreshToken });
    expect(reused).toMatchObject({ allowed: false, reason: 'REUSE_DETECTED' });
    expect(await identity.refreshSession({ refreshToken: second.session!.refreshToken })).toMatchObject({ allowed: false, reason: 'FAMILY_REVOKED' });
    const other = (await login(u.username, u.password)).session!;
    await identity.logout({ refreshToken: other.refreshToken });
    expect((await identity.refreshSession({ refreshToken: other.refreshToken })).allowed).toBe(false);
  });

  it('rotates the signing key and keeps the old public key in the JWKS', async () => {
    const u = await user('rotate');
    const before = (await login(u.username, u.password)).session!.accessToken;
    const oldKid = decodeProtectedHeader(before).kid!;
    const refused = await identity.rotateSigningKey({}).catch((e: { code?: string }) => e);
    expect(refused).toMatchObject({ code: 'UNAUTHENTICATED' });
    const rotated = await identity.rotateSigningKey({}, bearer(mintServiceCredential(mesh.secretKey, 'console')));
    expect(rotated.kid).not.toBe(oldKid);
    const jwks = (await (await fetch(`${httpBase}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([oldKid, rotated.kid]));
    const authz = createRpcClient(AuthzService, mesh.address('authz'));
    expect((await authz.authenticate({ bearer: before })).allowed).toBe(true);
    await new Promise((r) => setTimeout(r, 1_050)); // authz refetches the JWKS at most once a second
    const after = (await login(u.username, u.password)).session!.accessToken;
    expect(decodeProtectedHeader(after).kid).toBe(rotated.kid);
    expect((await authz.authenticate({ bearer: after })).allowed).toBe(true); // unknown kid → JWKS refetched
    authz.close();
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import * as OTPAuth from 'otpauth';
import { createRpcClient, PeerDirectory } from '#libs/rpc/index.ts';
import { migrate, type Database } from '#libs/db/index.ts';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { silentLogger, startTelemetry, type Telemetry } from '#libs/telemetry/index.ts';
import type { AppError } from '#libs/errors/index.ts';
import { IdentityService, LoginOutcome, Role } from '#gen/tollgate/identity/v1/identity_pb.js';
import { createIdentityApp, identityMigrations, type IdentityApp } from '../src/app.ts';
import { openIsolatedTestDatabase } from '../../../test/harness/database.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const password = 'correct horse battery staple';

/**
 * Identity alone (no authz: service credentials and its own access tokens only) on the real schema,
 * with a clock the test moves: lockouts, backoff, TOTP windows and token expiry without sleeping.
 */
describe('identity with an injected clock', () => {
  let database: Database;
  let telemetry: Telemetry;
  let app: IdentityApp;
  let identity: ReturnType<typeof createRpcClient<typeof IdentityService>>;
  let service: ReturnType<typeof bearer>;
  const clock = { t: Date.UTC(2030, 0, 1, 12), nowMs: () => clock.t };
  const advance = (ms: number) => {
    clock.t += ms;
  };
  let ipSeq = 0;
  const freshIp = () => `10.66.${Math.floor(ipSeq / 250)}.${(ipSeq++ % 250) + 1}`;
  const login = (username: string, pass: string, options: { ip?: string; totp?: string } = {}) =>
    identity.login({ username, password: pass, peerIp: options.ip ?? freshIp(), totpCode: options.totp ?? '' }, service);

  async function tenant(name: string) {
    const account = await app.core.createAccount({ name });
    const username = `${name}-${randomBytes(4).toString('hex')}`;
    const user = await app.core.createUser({ username, password, accountId: account.id, role: 'owner' });
    return { accountId: account.id, userId: user.id, username };
  }

  beforeAll(async () => {
    // Its own database: a clock in 2030 would retire and prune signing keys the rest of the run uses.
    database = await openIsolatedTestDatabase();
    await migrate(database, identityMigrations);
    telemetry = startTelemetry({ serviceName: 'identity-clocked-test' });
    const secretKey = randomBytes(32);
    app = createIdentityApp(
      { listen: { host: '127.0.0.1', grpcPort: 0, httpPort: 0 }, peers: new PeerDirectory(), argon2: { memoryCost: 1024, timeCost: 1 } },
      { database, logger: silentLogger(), telemetry, secretKey, clock },
    );
    const started = await app.start();
    identity = createRpcClient(IdentityService, started.grpcAddress);
    service = bearer(mintServiceCredential(secretKey, 'console'));
  });
  afterAll(async () => {
    identity?.close();
    await app?.stop();
    await telemetry?.shutdown();
    await database?.close();
  });

  it('backs off after each failure and locks the username out from that address at the fifth, every step audited', async () => {
    const u = await tenant('lockout');
    const ip = freshIp();
    for (let failure = 1; failure <= 5; failure++) {
      expect(await login(u.username, 'wrong password 123', { ip })).toMatchObject({ allowed: false, outcome: LoginOutcome.INVALID_CREDENTIALS });
      if (failure < 5) {
        // Backoff: 1 s, 2 s, 4 s, 8 s — even the right password waits.
        const held = await login(u.username, password, { ip });
        expect(held).toMatchObject({ allowed: false, outcome: LoginOutcome.LOCKED_OUT, retryAfterMs: BigInt(1_000 * 2 ** (failure - 1)) });
        advance(Number(held.retryAfterMs));
      }
    }
    const locked = await login(u.username, password, { ip });
    expect(locked).toMatchObject({ allowed: false, outcome: LoginOutcome.LOCKED_OUT });
    expect(Number(locked.retryAfterMs)).toBe(15 * 60_000);
    // One address guessing locks that address out, not the user: from elsewhere they log in.
    expect(await login(u.username, password, { ip: freshIp() })).toMatchObject({ allowed: true, outcome: LoginOutcome.OK });
    advance(14 * 60_000);
    expect((await login(u.username, password, { ip })).outcome).toBe(LoginOutcome.LOCKED_OUT);
    advance(60_000);
    expect(await login(u.username, password, { ip })).toMatchObject({ allowed: true, outcome: LoginOutcome.OK });

    const events = (await identity.listAuditEvents({ accountId: u.accountId, pageSize: 100 }, service)).events;
    const count = (kind: string, outcome: string) => events.filter((e) => e.kind === kind && e.outcome === outcome).length;
    expect(count('login_failed', 'failure:INVALID_CREDENTIALS')).toBe(5);
    expect(count('login_failed', 'denied:BACKOFF')).toBe(4);
    expect(count('login_failed', 'denied:LOCKED_OUT')).toBe(2);
    expect(count('lockout', 'success:USERNAME_ADDRESS_FAILURES')).toBe(1);
    expect(count('lockout', 'success:DISTRIBUTED_FAILURES')).toBe(0);
    expect(count('login_ok', 'success')).toBe(2);
    for (const e of events) expect(JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(password);
    expect(events.every((e) => e.ip.startsWith('10.66.'))).toBe(true);
  });

  it('locks the username from every address only on a distributed attack (failures from 3 addresses)', async () => {
    const u = await tenant('distributed');
    const attackers = [freshIp(), freshIp(), freshIp()];
    // Two addresses failing (3 + 1 failures) are two people mistyping: the user still logs in elsewhere.
    for (let i = 0; i < 3; i++) {
      expect((await login(u.username, 'wrong password 123', { ip: attackers[0] })).outcome).toBe(LoginOutcome.INVALID_CREDENTIALS);
      advance(10_000);
    }
    expect((await login(u.username, 'wrong password 123', { ip: attackers[1] })).outcome).toBe(LoginOutcome.INVALID_CREDENTIALS);
    advance(10_000);
    expect((await login(u.username, password)).allowed).toBe(true);
    // Logging in clears the account-wide count; the attack goes on from three new addresses:
    // the fifth failure, with failures from three addresses or more, locks the account.
    const [a, b, c] = [freshIp(), freshIp(), freshIp()];
    for (const ip of [a, b, c, a, b]) {
      expect((await login(u.username, 'wrong password 123', { ip })).outcome).toBe(LoginOutcome.INVALID_CREDENTIALS);
      advance(10_000);
    }
    const everywhere = await login(u.username, password, { ip: freshIp() });
    expect(everywhere).toMatchObject({ allowed: false, outcome: LoginOutcome.LOCKED_OUT });
    const events = (await identity.listAuditEvents({ accountId: u.accountId, kind: 'lockout' }, service)).events;
    expect(events.filter((e) => e.outcome === 'success:DISTRIBUTED_FAILURES')).toHaveLength(1);

    // An admin lifts it (here as a mesh service: `tollgate user unlock`), and it is audited.
    expect((await identity.unlockUser({ username: u.username, address: '' }, service)).lifted).toBeGreaterThanOrEqual(1);
    expect((await login(u.username, password, { ip: freshIp() })).allowed).toBe(true);
    const lifted = (await identity.listAuditEvents({ accountId: u.accountId, kind: 'lockout_lifted' }, service)).events;
    expect(lifted).toHaveLength(1);
    expect(lifted[0]).toMatchObject({ subjectId: u.userId, outcome: 'success:ALL_ADDRESSES', details: { actor: 'service:console' } });
  });

  it('lifts the lockout of one (username, address) on an admin’s word, leaving other addresses’ alone', async () => {
    const u = await tenant('unlock');
    const [a, b] = [freshIp(), freshIp()];
    for (const ip of [a, b]) {
      for (let i = 0; i < 5; i++) {
        await login(u.username, 'wrong password 123', { ip });
        advance(20_000);
      }
    }
    expect((await login(u.username, password, { ip: a })).outcome).toBe(LoginOutcome.LOCKED_OUT);
    // The owner themself (from a third address) lifts the lock of address a.
    const owner = (await login(u.username, password, { ip: freshIp() })).session!.accessToken;
    const other = await tenant('unlock-outsider');
    const outsider = (await login(other.username, password)).session!.accessToken;
    await expect(identity.unlockUser({ username: u.username, address: a }, bearer(outsider))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    await expect(identity.unlockUser({ username: u.username, address: 'not-an-ip' }, bearer(owner))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'address' });
    await expect(identity.unlockUser({ username: u.username, address: a })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((await identity.unlockUser({ username: u.username, address: a }, bearer(owner))).lifted).toBe(1);
    expect((await login(u.username, password, { ip: a })).allowed).toBe(true);
    expect((await login(u.username, password, { ip: b })).outcome).toBe(LoginOutcome.LOCKED_OUT);
    const lifted = (await identity.listAuditEvents({ accountId: u.accountId, kind: 'lockout_lifted' }, service)).events;
    expect(lifted).toHaveLength(1);
    expect(lifted[0]).toMatchObject({ actorId: u.userId, ip: a, outcome: 'success:USERNAME_ADDRESS', details: { lifted: '1' } });
  });

  it('keeps credential checks (VerifyPassword: MQTT, broker adapters) off the interactive lockout', async () => {
    const u = await tenant('mqtt-guesses');
    const ip = freshIp();
    const verify = (pass: string) => identity.verifyPassword({ username: u.username, password: pass, peerIp: ip }, service);
    for (let i = 0; i < 12; i++) {
      await verify('wrong password 123');
      advance(2_000);
    }
    // The checks locked themselves out (the right password is refused there too)…
    expect(await verify(password)).toMatchObject({ allowed: false, outcome: LoginOutcome.LOCKED_OUT });
    // …but the person logs in interactively, from that very address.
    expect(await login(u.username, password, { ip })).toMatchObject({ allowed: true, outcome: LoginOutcome.OK });
    const events = (await identity.listAuditEvents({ accountId: u.accountId, pageSize: 100 }, service)).events;
    const checks = events.filter((e) => e.details.channel === 'credential_check');
    expect(checks.filter((e) => e.kind === 'lockout')).toHaveLength(1);
    // Refusals during the lockout are not one row each.
    expect(checks.filter((e) => e.kind === 'login_failed' && e.outcome.startsWith('denied'))).toHaveLength(0);
  });

  it('locks out an address that sprays passwords over many usernames, for every username', async () => {
    const ip = '198.51.100.7';
    for (let i = 0; i < 20; i++) {
      expect((await login(`sprayed-${i}-${randomBytes(3).toString('hex')}`, 'wrong password 123', { ip })).outcome).toBe(LoginOutcome.INVALID_CREDENTIALS);
      advance(61_000); // past the address's growing backoff
    }
    const innocent = await tenant('innocent');
    expect((await login(innocent.username, password, { ip })).outcome).toBe(LoginOutcome.LOCKED_OUT);
    expect((await login(innocent.username, password)).allowed).toBe(true); // from elsewhere
  });

  it('counts parallel guesses one by one (no burst slips past the throttle)', async () => {
    const u = await tenant('burst');
    const ip = freshIp();
    const answers = await Promise.all(Array.from({ length: 8 }, () => login(u.username, 'wrong password 123', { ip })));
    expect(answers.filter((a) => a.outcome === LoginOutcome.INVALID_CREDENTIALS)).toHaveLength(1);
    expect(answers.filter((a) => a.outcome === LoginOutcome.LOCKED_OUT)).toHaveLength(7);
  });

  it('changes a password only with the user’s session (or an admin’s), the current password and, when enrolled, a TOTP code', async () => {
    const u = await tenant('change');
    const stranger = await tenant('change-stranger');
    const change = (options: { bearer?: string; totp?: string; current?: string } = {}) =>
      identity.changePassword({ userId: u.userId, currentPassword: options.current ?? password, newPassword: 'a brand new passphrase', totpCode: options.totp ?? '' }, options.bearer ? bearer(options.bearer) : {});
    // No session: the current password alone is not enough.
    await expect(change()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    const strangerToken = (await login(stranger.username, password)).session!.accessToken;
    await expect(change({ bearer: strangerToken })).rejects.toMatchObject({ code: 'PERMISSION_DENIED', reason: 'NOT_THE_USER' });
    const own = (await login(u.username, password)).session!.accessToken;
    const enrolled = await identity.enrollTotp({ userId: u.userId }, bearer(own));
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolled.secret), digits: 6, period: 30, algorithm: 'SHA1' });
    await identity.confirmTotp({ userId: u.userId, code: totp.generate({ timestamp: clock.t }) }, bearer(own));
    advance(30_000);
    await expect(change({ bearer: own })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'totp_code' });
    await expect(change({ bearer: own, totp: '000000' })).rejects.toMatchObject({ code: 'PERMISSION_DENIED', reason: 'TWO_FACTOR_INVALID' });
    advance(30_000);
    await change({ bearer: own, totp: totp.generate({ timestamp: clock.t }) });
    expect((await login(u.username, 'a brand new passphrase', { totp: totp.generate({ timestamp: clock.t + 30_000 }) })).allowed).toBe(true);
  });

  it('takes each TOTP code once, accepts the next window, refuses a stale one, and spends recovery codes once', async () => {
    const u = await tenant('totp');
    const access = (await login(u.username, password)).session!.accessToken;
    const enrolled = await identity.enrollTotp({ userId: u.userId }, bearer(access));
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolled.secret), digits: 6, period: 30, algorithm: 'SHA1' });
    const code = () => totp.generate({ timestamp: clock.t });
    const { recoveryCodes } = await identity.confirmTotp({ userId: u.userId, code: code() }, bearer(access));
    expect((await identity.getUser({ userId: u.userId }, service)).user!.totpEnabled).toBe(true);
    expect((await login(u.username, password)).outcome).toBe(LoginOutcome.TOTP_REQUIRED);
    advance(30_000);
    const current = code();
    expect((await login(u.username, password, { totp: current })).allowed).toBe(true);
    advance(1_000);
    expect((await login(u.username, password, { totp: current })).outcome).toBe(LoginOutcome.TOTP_INVALID); // replay
    advance(5 * 60_000);
    expect((await login(u.username, password, { totp: current })).outcome).toBe(LoginOutcome.TOTP_INVALID); // stale
    advance(60_000);
    expect((await login(u.username, password, { totp: recoveryCodes[0]! })).allowed).toBe(true);
    advance(60_000);
    expect((await login(u.username, password, { totp: recoveryCodes[0]! })).outcome).toBe(LoginOutcome.TOTP_INVALID);
    advance(60_000);
    // Disabling takes proof from the user themself.
    const noCode = (await identity.disableTotp({ userId: u.userId, code: '' }, bearer(access)).catch((e: unknown) => e)) as AppError;
    expect(noCode.field).toBe('code');
    await identity.disableTotp({ userId: u.userId, code: recoveryCodes[1]! }, bearer(access));
    expect((await login(u.username, password)).allowed).toBe(true);
    const kinds = (await identity.listAuditEvents({ accountId: u.accountId }, service)).events.map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(['totp_enrolled', 'totp_disabled', 'recovery_code_used']));
  });

  it('stops accepting an access token once it expires (6 h), and a refresh token keeps the session going', async () => {
    const u = await tenant('expiry');
    const session = (await login(u.username, password)).session!;
    expect((await identity.getAccount({ accountId: u.accountId }, bearer(session.accessToken))).account!.id).toBe(u.accountId);
    advance(6 * 3_600_000 + 60_000);
    const expired = (await identity.getAccount({ accountId: u.accountId }, bearer(session.accessToken)).catch((e: unknown) => e)) as AppError;
    expect(expired).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'JWT_EXPIRED' });
    const renewed = await identity.refreshSession({ refreshToken: session.refreshToken });
    expect(renewed.allowed).toBe(true);
    expect((await identity.getAccount({ accountId: u.accountId }, bearer(renewed.session!.accessToken))).account!.id).toBe(u.accountId);
  });

  it('ends a removed member’s sessions at the next refresh and refuses their access token at once', async () => {
    const u = await tenant('removed');
    const other = await app.core.createAccount({ name: 'second home' });
    await identity.setMembership({ userId: u.userId, accountId: other.id, role: Role.MEMBER }, service);
    const session = (await identity.login({ username: u.username, password, accountId: other.id, peerIp: freshIp() }, service)).session!;
    await identity.removeMembership({ userId: u.userId, accountId: other.id }, service);
    const refused = (await identity.getAccount({ accountId: other.id }, bearer(session.accessToken)).catch((e: unknown) => e)) as AppError;
    expect(refused).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'NOT_A_MEMBER' });
    expect(await identity.refreshSession({ refreshToken: session.refreshToken })).toMatchObject({ allowed: false, reason: 'NOT_A_MEMBER' });
  });
});

import { createLocalJWKSet, jwtVerify, decodeProtectedHeader, SignJWT, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { createSecretBox } from '#libs/crypto/secret-box.ts';
import { FakeClock } from '../../test/doubles/test-doubles.ts';
import { DEFAULT_ACCESS_TOKEN_TTL_MS, SigningKeyRing } from './signing-key-ring.ts';
import { InMemorySigningKeyStore } from '../../test/doubles/in-memory-signing-key-store.ts';

const HOUR = 3_600_000;
const issuer = 'https://id.tollgate.test';
const audience = 'tollgate';
const claims = { sub: 'usr_1', acc: 'acc_1', roles: ['admin'] };

async function setup(maxAccessTokenTtlMs = 6 * HOUR) {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const store = new InMemorySigningKeyStore();
  const secretBox = createSecretBox(new Uint8Array(32).fill(1));
  const ring = await SigningKeyRing.open({ store, secretBox, clock, issuer, audience, maxAccessTokenTtlMs, clockToleranceMs: 0 });
  return { clock, store, secretBox, ring };
}

describe('SigningKeyRing', () => {
  it('generates a first key on open and signs EdDSA tokens with kid, iss, aud, iat, exp (6 h default)', async () => {
    const { ring, clock } = await setup();
    const { token, expiresAtMs, kid } = await ring.issueAccessToken(claims);
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'EdDSA', kid, typ: 'at+jwt' });
    expect(expiresAtMs).toBe(clock.nowMs() + DEFAULT_ACCESS_TOKEN_TTL_MS);
    const verified = await ring.verifyAccessToken(token);
    expect(verified).toMatchObject({ ok: true, token: { ...claims, iss: issuer, aud: audience, iat: clock.nowMs() / 1000, exp: expiresAtMs / 1000, kid } });
  });

  it('an independent verifier accepts the token using only the JWKS JSON', async () => {
    const { ring, clock } = await setup();
    const { token } = await ring.issueAccessToken(claims, HOUR);
    const jwksJson = JSON.parse(JSON.stringify(ring.jwks()));
    expect(jwksJson.keys[0]).not.toHaveProperty('d'); // no private part published
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwksJson), { issuer, audience, currentDate: new Date(clock.nowMs()) });
    expect(protectedHeader.alg).toBe('EdDSA');
    expect(payload).toMatchObject(claims);
  });

  it.each([
    ['expired', async (ring: SigningKeyRing, clock: FakeClock) => { const t = await ring.issueAccessToken(claims, HOUR); clock.advance(HOUR); return t.token; }, 'EXPIRED'],
    ['garbage', async () => 'not.a.jwt', 'INVALID'],
    ['tampered payload', async (ring: SigningKeyRing) => { const [h, , s] = (await ring.issueAccessToken(claims)).token.split('.'); const p = Buffer.from(JSON.stringify({ ...claims, roles: ['owner'] })).toString('base64url'); return `${h}.${p}.${s}`; }, 'INVALID'],
    ['signed by a foreign key with our kid', async (ring: SigningKeyRing, clock: FakeClock) => {
      const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      return new SignJWT({ acc: 'acc_1', roles: [] }).setProtectedHeader({ alg: 'EdDSA', kid: ring.activeKid }).setSubject('usr_1').setIssuer(issuer).setAudience(audience).setIssuedAt(Math.floor(clock.nowMs() / 1000)).setExpirationTime(Math.floor(clock.nowMs() / 1000) + 60).sign(privateKey);
    }, 'INVALID'],
    ['unknown kid', async (_ring: SigningKeyRing, clock: FakeClock) => {
      const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      return new SignJWT({}).setProtectedHeader({ alg: 'EdDSA', kid: 'nope' }).setSubject('usr_1').setIssuedAt(Math.floor(clock.nowMs() / 1000)).setExpirationTime('1h').sign(privateKey);
    }, 'UNKNOWN_KEY'],
  ])('refuses a token that is %s', async (_case, make, reason) => {
    const { ring, clock } = await setup();
    expect(await ring.verifyAccessToken(await make(ring, clock))).toEqual({ ok: false, reason });
  });

  it('rotation keeps the old public key until every token it signed has expired', async () => {
    const { ring, clock } = await setup(6 * HOUR);
    const oldKid = ring.activeKid;
    const old = await ring.issueAccessToken(claims, 6 * HOUR);
    clock.advance(HOUR);
    const { kid, retiredKid } = await ring.rotate();
    expect(retiredKid).toBe(oldKid);
    expect(ring.activeKid).toBe(kid);
    expect((await ring.issueAccessToken(claims)).kid).toBe(kid);
    expect(ring.jwks().keys.map((key) => key.kid).sort()).toEqual([kid, oldKid].sort());
    expect((await ring.verifyAccessToken(old.token)).ok).toBe(true);
    clock.advance(6 * HOUR - 1);
    expect(ring.jwks().keys).toHaveLength(2);
    expect(await ring.prune()).toEqual([]);
    clock.advance(1);
    expect(ring.jwks().keys.map((key) => key.kid)).toEqual([kid]);
    expect(await ring.prune()).toEqual([oldKid]);
  });

  it('stores private keys sealed and reloads them from the store', async () => {
    const { ring, store, secretBox, clock } = await setup();
    const stored = [...store.keys.values()][0]!;
    expect(stored.sealedPrivateJwk).toMatch(/^v1\./);
    expect(JSON.stringify(stored)).not.toContain('"d"');
    const reopened = await SigningKeyRing.open({ store, secretBox, clock, issuer, audience, maxAccessTokenTtlMs: 6 * HOUR });
    expect(reopened.activeKid).toBe(ring.activeKid);
    expect((await reopened.verifyAccessToken((await ring.issueAccessToken(claims)).token)).ok).toBe(true);
    await expect(SigningKeyRing.open({ store, secretBox: createSecretBox(new Uint8Array(32).fill(2)), clock, issuer, audience })).rejects.toThrow(/secret-box/);
  });

  it('refuses a ttl longer than the published-key window', async () => {
    const { ring } = await setup(6 * HOUR);
    await expect(ring.issueAccessToken(claims, 7 * HOUR)).rejects.toThrow(/ttl_ms/);
  });

  it('keeps an ES256 ring beside the EdDSA one in the same store: rotations and pruning stay apart', async () => {
    const { ring, store, secretBox, clock } = await setup();
    const es = await SigningKeyRing.open({ store, secretBox, clock, issuer, audience, alg: 'ES256', clockToleranceMs: 0 });
    expect(es.activeKid).not.toBe(ring.activeKid);
    const edKid = ring.activeKid;
    await es.rotate();
    expect(ring.activeKid).toBe(edKid);
    await ring.reload();
    expect(ring.activeKid).toBe(edKid);
    expect(ring.jwks().keys.every((k) => k.alg === 'EdDSA')).toBe(true);
    expect(es.jwks().keys.map((k) => k.crv)).toEqual(['P-256', 'P-256']);
    expect(es.activePrivateJwk()).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', kid: es.activeKid, d: expect.any(String) });
    const { token } = await es.issueAccessToken(claims, HOUR);
    expect(decodeProtectedHeader(token).alg).toBe('ES256');
    await expect(jwtVerify(token, createLocalJWKSet(es.jwks()), { issuer, audience, algorithms: ['ES256'], currentDate: new Date(clock.nowMs()) })).resolves.toBeDefined();
    expect(await ring.verifyAccessToken(token)).toMatchObject({ ok: false });
  });
});

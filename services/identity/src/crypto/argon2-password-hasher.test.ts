import { describe, expect, it } from 'vitest';
import { Argon2PasswordHasher, owaspArgon2Params } from './argon2-password-hasher.ts';

// Cheap parameters keep unit tests fast; one test checks the defaults.
const cheap = { memoryCost: 256, timeCost: 1, parallelism: 1 };

describe('Argon2PasswordHasher', () => {
  const hasher = new Argon2PasswordHasher(cheap);

  it('hashes to an argon2id PHC string and verifies it', async () => {
    const phc = await hasher.hash('a sturdy passphrase');
    expect(phc).toMatch(/^\$argon2id\$v=19\$m=256,t=1,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]{43}$/);
    expect(await hasher.verify(phc, 'a sturdy passphrase')).toBe(true);
    expect(await hasher.verify(phc, 'a sturdy passphrasE')).toBe(false);
  });

  it('salts: the same password hashes differently', async () => {
    expect(await hasher.hash('same password!')).not.toBe(await hasher.hash('same password!'));
  });

  it.each([
    ['empty', ''],
    ['not a PHC', 'plaintext'],
    ['bcrypt', '$2b$10$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01'],
  ])('a malformed stored hash (%s) is a failed verify, not a throw', async (_case, phc) => {
    expect(await hasher.verify(phc, 'whatever')).toBe(false);
    expect(hasher.needsRehash(phc)).toBe(true);
  });

  it.each([
    ['same params', cheap, false],
    ['more memory', { ...cheap, memoryCost: 512 }, true],
    ['more passes', { ...cheap, timeCost: 2 }, true],
    ['more lanes', { ...cheap, parallelism: 2 }, true],
  ])('needsRehash after %s', async (_case, params, expected) => {
    const phc = await hasher.hash('a sturdy passphrase');
    expect(new Argon2PasswordHasher(params).needsRehash(phc)).toBe(expected);
  });

  it('verifyDummy always answers false and costs a real verify', async () => {
    expect(await hasher.verifyDummy('tollgate-dummy-password-for-unknown-users')).toBe(false);
    expect(await hasher.verifyDummy('anything')).toBe(false);
  });

  it('defaults to OWASP argon2id m=19456 KiB, t=2, p=1', async () => {
    const hasher = new Argon2PasswordHasher();
    expect(hasher.params).toEqual(owaspArgon2Params);
    const phc = await hasher.hash('a sturdy passphrase');
    expect(phc.startsWith('$argon2id$v=19$m=19456,t=2,p=1$')).toBe(true);
    expect(hasher.needsRehash(phc)).toBe(false);
  });
});

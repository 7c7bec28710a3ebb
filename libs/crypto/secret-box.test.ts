import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isAppError } from '#libs/errors/index.ts';
import { createSecretBox, generateSecretKey, parseSecretKey } from './secret-box.ts';

const key = new Uint8Array(32).fill(7);
const otherKey = new Uint8Array(32).fill(8);

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('parseSecretKey', () => {
  const bytes = randomBytes(32);
  it.each([
    ['hex lower', bytes.toString('hex')],
    ['hex upper', bytes.toString('hex').toUpperCase()],
    ['base64', bytes.toString('base64')],
    ['base64 without padding', bytes.toString('base64').replace(/=$/, '')],
    ['base64url', bytes.toString('base64url')],
    ['surrounding whitespace', `  ${bytes.toString('base64')}\n`],
  ])('accepts %s', (_case, text) => {
    expect(Buffer.from(parseSecretKey(text)).equals(bytes)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['too short hex', 'ab'.repeat(31)],
    ['too long hex', 'ab'.repeat(33)],
    ['16-byte base64', randomBytes(16).toString('base64')],
    ['64-byte base64', randomBytes(64).toString('base64')],
    ['passphrase', 'correct horse battery staple but not a key at all!!'],
    ['non-hex 64 chars', 'zz'.repeat(32)],
  ])('rejects %s without echoing it', (_case, text) => {
    const error = catchError(() => parseSecretKey(text));
    expect(isAppError(error) && error.code).toBe('INVALID_ARGUMENT');
    expect(isAppError(error) && error.field).toBe('TOLLGATE_SECRET_KEY');
    if (text.length > 3) expect((error as Error).message).not.toContain(text.trim());
  });

  it('generateSecretKey round-trips', () => {
    expect(parseSecretKey(generateSecretKey())).toHaveLength(32);
  });
});

describe('createSecretBox', () => {
  const box = createSecretBox(key);

  it('round-trips text and bytes, with and without associated data', () => {
    expect(box.openText(box.seal('JBSWY3DPEHPK3PXP'))).toBe('JBSWY3DPEHPK3PXP');
    expect(box.openText(box.seal('', 'row-1'), 'row-1')).toBe('');
    const payload = randomBytes(300);
    expect(Buffer.from(box.open(box.seal(payload, 'usr_1'), 'usr_1')).equals(payload)).toBe(true);
  });

  it('writes a versioned, self-describing value with a fresh iv each time', () => {
    const a = box.seal('same');
    const b = box.seal('same');
    expect(a).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(a).not.toBe(b);
  });

  const sealed = box.seal('top secret', 'usr_1');
  const [v, iv, ct, tag] = sealed.split('.') as [string, string, string, string];
  const flip = (part: string) => (part[0] === 'A' ? 'B' : 'A') + part.slice(1);
  it.each([
    ['wrong key', () => createSecretBox(otherKey).open(sealed, 'usr_1')],
    ['wrong associated data', () => box.open(sealed, 'usr_2')],
    ['missing associated data', () => box.open(sealed)],
    ['tampered ciphertext', () => box.open([v, iv, flip(ct), tag].join('.'), 'usr_1')],
    ['tampered iv', () => box.open([v, flip(iv), ct, tag].join('.'), 'usr_1')],
    ['tampered tag', () => box.open([v, iv, ct, flip(tag)].join('.'), 'usr_1')],
    ['truncated tag', () => box.open([v, iv, ct, tag.slice(0, 10)].join('.'), 'usr_1')],
    ['unknown version', () => box.open(['v9', iv, ct, tag].join('.'), 'usr_1')],
    ['garbage', () => box.open('not-sealed', 'usr_1')],
    ['bad alphabet', () => box.open([v, iv, `${ct}!`, tag].join('.'), 'usr_1')],
  ])('refuses to open on %s', (_case, fn) => {
    const error = catchError(fn);
    expect(isAppError(error) && error.reason).toBe('SECRET_BOX_OPEN_FAILED');
    expect((error as Error).message).not.toContain('top secret');
  });

  it('rejects a key of the wrong size', () => {
    expect(() => createSecretBox(new Uint8Array(16))).toThrow(/32 bytes/);
  });
});

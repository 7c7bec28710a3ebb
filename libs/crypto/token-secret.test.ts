import { describe, expect, it } from 'vitest';
import {
  generateTokenSecret,
  hashTokenSecret,
  isWellFormedTokenSecret,
  shortFormOf,
  TOKEN_SECRET_LENGTH,
} from './token-secret.ts';

const zeros = (n: number) => new Uint8Array(n);
const ones = (n: number) => new Uint8Array(n).fill(0xff);

describe('token secret', () => {
  it('is tg_ + 92 base62 characters', () => {
    const s = generateTokenSecret();
    expect(s).toMatch(/^tg_[0-9A-Za-z]{92}$/);
    expect(s.length).toBe(TOKEN_SECRET_LENGTH);
    expect(isWellFormedTokenSecret(s)).toBe(true);
  });

  it('is deterministic for injected bytes and covers the full 512-bit range', () => {
    const low = generateTokenSecret(zeros);
    const high = generateTokenSecret(ones);
    expect(low.slice(3, 89)).toBe('0'.repeat(86));
    expect(high).not.toBe(low);
    expect(isWellFormedTokenSecret(low)).toBe(true);
    expect(isWellFormedTokenSecret(high)).toBe(true);
    expect(generateTokenSecret(ones)).toBe(high);
  });

  it('differs every time', () => {
    const seen = new Set(Array.from({ length: 200 }, () => generateTokenSecret()));
    expect(seen.size).toBe(200);
  });

  it('refuses a random source that returns the wrong size', () => {
    expect(() => generateTokenSecret(() => zeros(10))).toThrow(/10 bytes/);
  });

  const good = generateTokenSecret();
  const mistakes: [string, string][] = [
    ['empty', ''],
    ['no prefix', good.slice(3)],
    ['other prefix', 'tx_' + good.slice(3)],
    ['truncated', good.slice(0, -1)],
    ['extended', good + 'a'],
    ['non-base62', good.slice(0, 10) + '-' + good.slice(11)],
    ['short form', shortFormOf(good)],
  ];
  it.each(mistakes)('rejects %s', (_name, s) => expect(isWellFormedTokenSecret(s)).toBe(false));

  it('rejects every single-character typo in the body (CRC32 catches them)', () => {
    const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    for (let i = 3; i < good.length; i++) {
      const replacement = alphabet[(alphabet.indexOf(good[i]!) + 1 + (i % 61)) % 62]!;
      expect(isWellFormedTokenSecret(good.slice(0, i) + replacement + good.slice(i + 1))).toBe(false);
    }
  });

  it('rejects swapped adjacent characters', () => {
    for (let i = 3; i < good.length - 1; i++) {
      if (good[i] === good[i + 1]) continue;
      const swapped = good.slice(0, i) + good[i + 1] + good[i] + good.slice(i + 2);
      expect(isWellFormedTokenSecret(swapped)).toBe(false);
    }
  });

  it('hashes to lowercase hex SHA-256', () => {
    expect(hashTokenSecret('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hashTokenSecret(good)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashTokenSecret(shortFormOf(good))).not.toBe(hashTokenSecret(good));
  });

  it('short form is the first 16 characters', () => {
    expect(shortFormOf(good)).toBe(good.slice(0, 16));
    expect(shortFormOf(good)).toHaveLength(16);
  });
});

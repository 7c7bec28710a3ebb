import { describe, expect, it } from 'vitest';
import {
  generateTokenSecret,
  hashTokenSecret,
  hasTokenSecretShape,
  isWellFormedTokenSecret,
  shortFormOf,
  TOKEN_SECRET_LENGTH,
} from './token-secret.ts';
import { createRng } from '../../test/harness/seeded-rng.ts';

const zeros = (n: number) => new Uint8Array(n);
const ones = (n: number) => new Uint8Array(n).fill(0xff);

describe('token secret', () => {
  it('is tg_ + 92 base62 characters', () => {
    const s = generateTokenSecret();
    expect(s).toMatch(/^tg_[0-9A-Za-z]{92}$/);
    expect(s.length).toBe(TOKEN_SECRET_LENGTH);
    expect(isWellFormedTokenSecret(s)).toBe(true);
  });

  it('has a shape (prefix and length) that says nothing of its checksum', () => {
    const s = generateTokenSecret();
    expect(hasTokenSecretShape(s)).toBe(true);
    expect(hasTokenSecretShape(`${s.slice(0, -1)}${s.at(-1) === '0' ? '1' : '0'}`)).toBe(true); // the checksum is not read
    expect(hasTokenSecretShape(s.slice(0, -1))).toBe(false);
    expect(hasTokenSecretShape(`${s}0`)).toBe(false);
    expect(hasTokenSecretShape(`tG_${s.slice(3)}`)).toBe(false);
    expect(hasTokenSecretShape('')).toBe(false);
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

  it('agrees with the checksum spelled out, on generated secrets and on every kind of damage', () => {
    // The check as first written: the alphabet, then the CRC-32 of the head spelled in base62 and compared.
    const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    const table = Array.from({ length: 256 }, (_, n) => {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      return c >>> 0;
    });
    const spelled = (head: string) => {
      let crc = 0xffffffff;
      for (let i = 0; i < head.length; i++) crc = table[(crc ^ head.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
      let value = (crc ^ 0xffffffff) >>> 0;
      let out = '';
      for (let i = 0; i < 6; i++) {
        out = alphabet[value % 62] + out;
        value = Math.floor(value / 62);
      }
      return out;
    };
    const reference = (s: string) => s.length === TOKEN_SECRET_LENGTH && /^tg_[0-9A-Za-z]{92}$/.test(s) && s.endsWith(spelled(s.slice(0, -6)));
    const random = createRng(11);
    let wellFormed = 0;
    for (let i = 0; i < 3_000; i++) {
      const secret = generateTokenSecret();
      const chars = [...secret];
      const kind = i % 4;
      if (kind === 1) chars[3 + Math.floor(random() * 92)] = alphabet[Math.floor(random() * 62)]!;
      else if (kind === 2) chars[89 + Math.floor(random() * 6)] = String.fromCharCode(Math.floor(random() * 128));
      else if (kind === 3) chars[Math.floor(random() * 95)] = String.fromCharCode(0x2f + Math.floor(random() * 0x50));
      const candidate = chars.join('');
      expect(isWellFormedTokenSecret(candidate), candidate).toBe(reference(candidate));
      if (reference(candidate)) wellFormed++;
    }
    // Checksums that spell out a value above any CRC-32 (`zzzzzz` = 62^6 − 1) are refused, not wrapped.
    expect(isWellFormedTokenSecret(good.slice(0, -6) + 'zzzzzz')).toBe(false);
    expect(wellFormed).toBeGreaterThan(750);
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

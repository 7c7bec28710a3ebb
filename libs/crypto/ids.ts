import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** A prefixed random id (`acc_…`, `usr_…`, `tok_…`): 20 Crockford base32 chars, 100 bits. */
export function newId(prefix: 'acc' | 'usr' | 'tok' | 'req' | 'evt' | 'key' | 'fam' | 'slt' | 'lse'): string {
  const bytes = randomBytes(20);
  let out = `${prefix}_`;
  for (const b of bytes) out += ALPHABET[b & 31];
  return out;
}

const ID = /^(acc|usr|tok|req|evt|key|fam|slt|lse)_[0-9a-hjkmnp-tv-z]{20}$/;

export function isId(value: string, prefix: string): boolean {
  return ID.test(value) && value.startsWith(`${prefix}_`);
}

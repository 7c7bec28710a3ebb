/**
 * API token secrets: `tg_` + 86 base62 chars (64 random bytes) + 6 base62 chars (CRC32 of
 * everything before). 95 characters, one word (double-click selects it), safe as an MQTT
 * username, an HTTP header value or a URL segment; secret scanners recognise the prefix.
 *
 * The checksum is not a security control: it lets authz reject a mistyped or truncated token
 * without a database lookup (and without a cache miss that a flood of garbage could force).
 * Only `hashTokenSecret(secret)` (SHA-256) is ever stored.
 */
import { hash, randomBytes as nodeRandomBytes } from 'node:crypto';

export const TOKEN_SECRET_PREFIX = 'tg_';
export const TOKEN_SECRET_BYTES = 64;
const BODY_CHARS = 86; // ceil(512 / log2(62)) = 86
const CHECKSUM_CHARS = 6; // ceil(32 / log2(62)) = 6
export const TOKEN_SECRET_LENGTH = TOKEN_SECRET_PREFIX.length + BODY_CHARS + CHECKSUM_CHARS;
/** flespi short form: MQTT password = the first 16 characters of the secret. */
export const SHORT_FORM_LENGTH = 16;

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE) of an ASCII string's first `length` characters. */
function crc32(ascii: string, length = ascii.length): number {
  let crc = 0xffffffff;
  for (let i = 0; i < length; i++) crc = CRC_TABLE[(crc ^ ascii.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function toBase62(value: bigint, width: number): string {
  let out = '';
  for (let i = 0; i < width; i++) {
    out = ALPHABET[Number(value % 62n)] + out;
    value /= 62n;
  }
  return out;
}

/** The checksum characters: a CRC-32 (< 2^32, exact in a double) in base62, without BigInt (checked on every presented secret). */
function checksumOf(text: string, length = text.length): string {
  let value = crc32(text, length);
  let out = '';
  for (let i = 0; i < CHECKSUM_CHARS; i++) {
    out = ALPHABET[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/** A new secret from 64 random bytes. `randomBytes` is injectable for deterministic tests. */
export function generateTokenSecret(randomBytes: (size: number) => Uint8Array = nodeRandomBytes): string {
  const bytes = randomBytes(TOKEN_SECRET_BYTES);
  if (bytes.length !== TOKEN_SECRET_BYTES) throw new Error(`randomBytes returned ${bytes.length} bytes, expected ${TOKEN_SECRET_BYTES}`);
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  const head = TOKEN_SECRET_PREFIX + toBase62(value, BODY_CHARS);
  return head + checksumOf(head);
}

/** Prefix, length, alphabet and checksum are right: worth a lookup. Says nothing about validity. */
export function isWellFormedTokenSecret(s: string): boolean {
  if (typeof s !== 'string' || s.length !== TOKEN_SECRET_LENGTH || !s.startsWith(TOKEN_SECRET_PREFIX)) return false;
  for (let i = TOKEN_SECRET_PREFIX.length; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const isBase62 = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    if (!isBase62) return false;
  }
  // crc32 reads the head in place (its length bound), no slice.
  return s.endsWith(checksumOf(s, TOKEN_SECRET_LENGTH - CHECKSUM_CHARS));
}

/** Lowercase hex SHA-256 of the secret (or of its short form): the only thing stored. */
export function hashTokenSecret(s: string): string {
  return hash('sha256', s, 'hex');
}

/** flespi short form (MQTT password for constrained devices): the first 16 characters. */
export function shortFormOf(secret: string): string {
  return secret.slice(0, SHORT_FORM_LENGTH);
}

/**
 * API token secrets: `tg_` + 86 base62 chars (64 random bytes) + 6 base62 chars (CRC32 of
 * everything before). 95 characters, one word (double-click selects it), safe as an MQTT
 * username, an HTTP header value or a URL segment; secret scanners recognise the prefix.
 *
 * The checksum is not a security control: it lets authz reject a mistyped or truncated token
 * without a database lookup: a flood of garbage costs a hash and a cache look-up (authz looks a
 * secret up by its hash first), never a store read or an eviction.
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

/** Each ASCII character's base62 value (ALPHABET order), -1 for the rest. */
const BASE62_DIGITS = (() => {
  const digits = new Int8Array(128).fill(-1);
  for (let i = 0; i < ALPHABET.length; i++) digits[ALPHABET.charCodeAt(i)] = i;
  return digits;
})();

/** A base62 character's value, or -1. */
const base62Digit = (c: number): number => (c < 128 ? BASE62_DIGITS[c]! : -1);

/** CRC-32 state after the prefix: every well-formed secret starts with it. */
const PREFIX_CRC = (() => {
  let crc = 0xffffffff;
  for (let i = 0; i < TOKEN_SECRET_PREFIX.length; i++) crc = CRC_TABLE[(crc ^ TOKEN_SECRET_PREFIX.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  return crc;
})();

/**
 * Prefix and length are right: the shape of a secret, nothing more (no alphabet or checksum read).
 * For a look-up keyed by the secret's hash, which needs no checksum when it finds an issued secret.
 */
export function hasTokenSecretShape(s: string): boolean {
  return s.length === TOKEN_SECRET_LENGTH && s.startsWith(TOKEN_SECRET_PREFIX);
}

/**
 * Prefix, length, alphabet and checksum are right: worth a lookup. Says nothing about validity.
 * Checked on every presented secret (authz's Authorize), so in one pass and without a string: the
 * body's alphabet and its CRC-32 together, then the six checksum characters read back as the number
 * they spell — a CRC-32 is below 62^6, so its six base62 digits are equal exactly when the numbers are.
 */
export function isWellFormedTokenSecret(s: string): boolean {
  if (typeof s !== 'string' || s.length !== TOKEN_SECRET_LENGTH || !s.startsWith(TOKEN_SECRET_PREFIX)) return false;
  const head = TOKEN_SECRET_LENGTH - CHECKSUM_CHARS;
  let crc = PREFIX_CRC;
  for (let i = TOKEN_SECRET_PREFIX.length; i < head; i++) {
    const c = s.charCodeAt(i);
    if (base62Digit(c) < 0) return false;
    crc = CRC_TABLE[(crc ^ c) & 0xff]! ^ (crc >>> 8);
  }
  let spelled = 0;
  for (let i = head; i < TOKEN_SECRET_LENGTH; i++) {
    const digit = base62Digit(s.charCodeAt(i));
    if (digit < 0) return false;
    spelled = spelled * 62 + digit;
  }
  return spelled === (crc ^ 0xffffffff) >>> 0;
}

/** Lowercase hex SHA-256 of the secret (or of its short form): the only thing stored. */
export function hashTokenSecret(s: string): string {
  return hash('sha256', s, 'hex');
}

/** flespi short form (MQTT password for constrained devices): the first 16 characters. */
export function shortFormOf(secret: string): string {
  return secret.slice(0, SHORT_FORM_LENGTH);
}

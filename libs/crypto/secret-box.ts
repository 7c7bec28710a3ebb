/**
 * AES-256-GCM for small secrets at rest (TOTP secrets, signing private keys).
 *
 * Sealed form: `v1.<iv>.<ciphertext>.<tag>`, each part base64url (no padding). The version prefix
 * lets a later format (or a key id) coexist with rows written today. Associated data binds a
 * ciphertext to its context (a row id): a sealed value copied into another row does not open.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { AppError, invalidArgument } from '#libs/errors/index.ts';

export const SECRET_KEY_BYTES = 32;
const IV_BYTES = 12; // NIST SP 800-38D: 96-bit IV is the recommended size for GCM
const TAG_BYTES = 16;
const VERSION = 'v1';

/**
 * Parses the master key (`TOLLGATE_SECRET_KEY`): 64 hex characters, or base64 / base64url of exactly
 * 32 bytes. The error names the field and the expected shape, never the value.
 */
export function parseSecretKey(text: string, field = 'TOLLGATE_SECRET_KEY'): Uint8Array {
  const value = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(value)) return new Uint8Array(Buffer.from(value, 'hex'));
  // 32 bytes → 43 base64 chars + one '=' pad (optional); accept the standard and the url alphabet.
  if (/^[A-Za-z0-9+/]{43}=?$/.test(value) || /^[A-Za-z0-9_-]{43}=?$/.test(value)) {
    const bytes = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (bytes.length === SECRET_KEY_BYTES) return new Uint8Array(bytes);
  }
  throw invalidArgument(field, `must be ${SECRET_KEY_BYTES} bytes written as 64 hex characters or as base64 (got ${value.length} characters; the value is not shown)`);
}

/** A fresh key in the form `parseSecretKey` accepts (base64), for dev start to write into the data dir. */
export function generateSecretKey(): string {
  return randomBytes(SECRET_KEY_BYTES).toString('base64');
}

export interface SecretBox {
  /** Encrypts; `associatedData` (e.g. the row id) must be given again to open. */
  seal(plaintext: string | Uint8Array, associatedData?: string): string;
  /** Decrypts and authenticates; throws `AppError` (reason `SECRET_BOX_OPEN_FAILED`) on a wrong key, wrong associated data or any tampering. */
  open(sealed: string, associatedData?: string): Uint8Array;
  openText(sealed: string, associatedData?: string): string;
}

export interface SecretBoxOptions {
  /** Injected for tests; defaults to node:crypto randomBytes. */
  randomBytes?: (size: number) => Uint8Array;
}

export function createSecretBox(key: Uint8Array, options: SecretBoxOptions = {}): SecretBox {
  if (key.length !== SECRET_KEY_BYTES) throw invalidArgument('key', `must be ${SECRET_KEY_BYTES} bytes (got ${key.length})`);
  const keyBytes = Buffer.from(key); // own copy: the caller may zero theirs
  const random = options.randomBytes ?? ((size: number) => randomBytes(size));

  function seal(plaintext: string | Uint8Array, associatedData?: string): string {
    const iv = random(IV_BYTES);
    if (iv.length !== IV_BYTES) throw new AppError('INTERNAL', 'secret-box: random source returned a short iv');
    const cipher = createCipheriv('aes-256-gcm', keyBytes, iv, { authTagLength: TAG_BYTES });
    if (associatedData !== undefined) cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
    const ciphertext = Buffer.concat([cipher.update(data), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [VERSION, b64url(iv), b64url(ciphertext), b64url(tag)].join('.');
  }

  function open(sealed: string, associatedData?: string): Uint8Array {
    const parts = sealed.split('.');
    if (parts.length !== 4 || parts[0] !== VERSION) throw openFailed('not a v1 sealed value');
    const [, ivText, ciphertextText, tagText] = parts as [string, string, string, string];
    const iv = fromB64url(ivText);
    const tag = fromB64url(tagText);
    const ciphertext = fromB64url(ciphertextText);
    if (iv === undefined || tag === undefined || ciphertext === undefined || iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
      throw openFailed('malformed sealed value');
    }
    const decipher = createDecipheriv('aes-256-gcm', keyBytes, iv, { authTagLength: TAG_BYTES });
    decipher.setAuthTag(tag);
    if (associatedData !== undefined) decipher.setAAD(Buffer.from(associatedData, 'utf8'));
    try {
      return new Uint8Array(Buffer.concat([decipher.update(ciphertext), decipher.final()]));
    } catch (cause) {
      throw openFailed('authentication failed (wrong key, wrong associated data or tampered value)', cause);
    }
  }

  return Object.freeze({
    seal,
    open,
    openText: (sealed: string, associatedData?: string) => Buffer.from(open(sealed, associatedData)).toString('utf8'),
  });
}

function openFailed(problem: string, cause?: unknown): AppError {
  return new AppError('INTERNAL', `secret-box: ${problem}`, { reason: 'SECRET_BOX_OPEN_FAILED', cause });
}

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

function fromB64url(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  return Buffer.from(text, 'base64url');
}

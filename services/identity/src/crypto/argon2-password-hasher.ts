/**
 * `PasswordHasher` over argon2id (`@node-rs/argon2`, native, runs off the event loop).
 * Defaults are OWASP's (Password Storage Cheat Sheet): m=19456 KiB, t=2, p=1.
 */
import { hash, parseOptions, verify } from '@node-rs/argon2';
import type { PasswordHasher } from '../domain/ports.ts';

export interface Argon2Params {
  /** KiB of memory per hash. */
  memoryCost: number;
  /** Passes over memory. */
  timeCost: number;
  /** Lanes. */
  parallelism: number;
}

export const owaspArgon2Params: Argon2Params = Object.freeze({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });

// `Algorithm` is a const enum in the typings; type stripping cannot inline it, so use its value.
const ARGON2ID = 2 as const;
const OUTPUT_BYTES = 32;

export class Argon2PasswordHasher implements PasswordHasher {
  readonly params: Argon2Params;
  #dummy: Promise<string> | undefined;

  constructor(params: Partial<Argon2Params> = {}) {
    this.params = Object.freeze({ ...owaspArgon2Params, ...params });
  }

  hash(password: string): Promise<string> {
    return hash(password, { ...this.params, outputLen: OUTPUT_BYTES, algorithm: ARGON2ID as never });
  }

  async verify(phc: string, password: string): Promise<boolean> {
    try {
      return await verify(phc, password);
    } catch {
      return false; // a malformed stored hash is a failed login, not a crash
    }
  }

  needsRehash(phc: string): boolean {
    try {
      const current = parseOptions(phc);
      return (
        current.algorithm !== (ARGON2ID as number) ||
        current.memoryCost !== this.params.memoryCost ||
        current.timeCost !== this.params.timeCost ||
        current.parallelism !== this.params.parallelism ||
        current.outputLen !== OUTPUT_BYTES
      );
    } catch {
      return true;
    }
  }

  /**
   * For an unknown username: verify against a hash made with the current parameters, so the
   * answer takes as long as a real wrong password. The dummy hash is made once, lazily.
   */
  async verifyDummy(password: string): Promise<false> {
    this.#dummy ??= this.hash('tollgate-dummy-password-for-unknown-users');
    await this.verify(await this.#dummy, password);
    return false;
  }
}

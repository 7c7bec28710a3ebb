/**
 * The identity domain's ports. The domain does no I/O and reads neither the clock nor a random
 * source itself: adapters in `../crypto/` and `../store/` implement these.
 */

export interface Clock {
  nowMs(): number;
}

/** Cryptographically secure random bytes (`NodeRandomSource` in production, a seeded fake in tests). */
export interface RandomSource {
  bytes(size: number): Uint8Array;
}

/** One-way digest for high-entropy secrets (refresh tokens, recovery codes): SHA-256, lower-case hex. */
export interface SecretDigest {
  sha256Hex(text: string): string;
}

/** Password hashing (argon2id). Slow by design: every call is async and CPU-bound. */
export interface PasswordHasher {
  /** A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`). */
  hash(password: string): Promise<string>;
  /** False on a mismatch or on a malformed stored hash; never throws for a wrong password. */
  verify(phc: string, password: string): Promise<boolean>;
  /** True when `phc` was made with other parameters than the current ones (rehash on the next good login). */
  needsRehash(phc: string): boolean;
  /** Costs what a `verify` costs and always answers false: run it for unknown usernames. */
  verifyDummy(password: string): Promise<false>;
}

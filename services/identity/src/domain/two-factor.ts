/**
 * TOTP two-factor authentication (RFC 6238): enroll → confirm with a first code → every login
 * needs a code. Codes of the current step ±1 are accepted (clock drift, RFC 6238 §5.2); a step
 * that has been used once is never accepted again (§5.2: "MUST NOT accept the second attempt of
 * the OTP after the successful validation"), which also rejects any earlier step.
 *
 * Ten one-time recovery codes are issued on confirmation, shown once, stored as SHA-256 (they carry
 * 50 random bits each, so a fast hash suffices). The TOTP secret is returned in plaintext here;
 * the store seals it with secret-box (associated data: the user id).
 */
import type { Clock, RandomSource, SecretDigest } from './ports.ts';
import { randomString } from './encoding.ts';
import { twoFactorState } from './errors.ts';

export interface TotpParams {
  algorithm: 'SHA1' | 'SHA256' | 'SHA512';
  digits: number;
  periodSeconds: number;
}

/** Port over the TOTP maths (`OtpauthTotpEngine`). */
export interface TotpEngine {
  readonly params: TotpParams;
  encodeSecret(bytes: Uint8Array): string;
  uri(secretBase32: string, label: string, issuer: string): string;
  generate(secretBase32: string, nowMs: number): string;
  /** The absolute time step the code belongs to, searching `windowSteps` either side of now, or null. */
  matchStep(secretBase32: string, code: string, nowMs: number, windowSteps: number): number | null;
}

export interface TotpEnrollment {
  status: 'pending' | 'active';
  /** base32; sealed at rest. */
  secret: string;
  createdAtMs: number;
  confirmedAtMs: number | null;
  /** Highest time step accepted so far (replay guard). */
  lastUsedStep: number | null;
  recoveryCodeHashes: string[];
}

export type TotpVerifyOutcome =
  | { ok: true; enrollment: TotpEnrollment }
  | { ok: false; reason: 'INVALID_CODE' | 'REPLAYED' | 'NOT_ENROLLED' };

export const RECOVERY_CODE_COUNT = 10;
const SECRET_BYTES = 20; // RFC 4226 §4: 160-bit shared secret for SHA-1
const WINDOW_STEPS = 1;
// No 0/o, 1/l/i: codes are read off paper.
const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

export interface TwoFactorDeps {
  engine: TotpEngine;
  random: RandomSource;
  digest: SecretDigest;
  clock: Clock;
  issuer?: string;
}

export class TwoFactor {
  readonly #engine: TotpEngine;
  readonly #random: RandomSource;
  readonly #digest: SecretDigest;
  readonly #clock: Clock;
  readonly #issuer: string;

  constructor(deps: TwoFactorDeps) {
    this.#engine = deps.engine;
    this.#random = deps.random;
    this.#digest = deps.digest;
    this.#clock = deps.clock;
    this.#issuer = deps.issuer ?? 'Tollgate';
  }

  /** A pending enrollment and the `otpauth://` URI to show as a QR code. Replaces any pending one. */
  enroll(accountLabel: string, existing?: TotpEnrollment): { enrollment: TotpEnrollment; secret: string; uri: string } {
    if (existing?.status === 'active') throw twoFactorState('two-factor authentication is already active; disable it first');
    const secret = this.#engine.encodeSecret(this.#random.bytes(SECRET_BYTES));
    return {
      enrollment: { status: 'pending', secret, createdAtMs: this.#clock.nowMs(), confirmedAtMs: null, lastUsedStep: null, recoveryCodeHashes: [] },
      secret,
      uri: this.#engine.uri(secret, accountLabel, this.#issuer),
    };
  }

  /** Activates a pending enrollment with its first code; returns the recovery codes (show once). */
  confirm(enrollment: TotpEnrollment, code: string): { ok: true; enrollment: TotpEnrollment; recoveryCodes: string[] } | { ok: false; reason: 'INVALID_CODE' } {
    if (enrollment.status !== 'pending') throw twoFactorState('no pending two-factor enrollment to confirm');
    const step = this.#engine.matchStep(enrollment.secret, normalizeCode(code), this.#clock.nowMs(), WINDOW_STEPS);
    if (step === null) return { ok: false, reason: 'INVALID_CODE' };
    const { codes, hashes } = this.#newRecoveryCodes();
    return { ok: true, enrollment: { ...enrollment, status: 'active', confirmedAtMs: this.#clock.nowMs(), lastUsedStep: step, recoveryCodeHashes: hashes }, recoveryCodes: codes };
  }

  /** Checks a login code. On success, store the returned enrollment (it records the used step). */
  verify(enrollment: TotpEnrollment | undefined, code: string): TotpVerifyOutcome {
    if (enrollment?.status !== 'active') return { ok: false, reason: 'NOT_ENROLLED' };
    const step = this.#engine.matchStep(enrollment.secret, normalizeCode(code), this.#clock.nowMs(), WINDOW_STEPS);
    if (step === null) return { ok: false, reason: 'INVALID_CODE' };
    if (enrollment.lastUsedStep !== null && step <= enrollment.lastUsedStep) return { ok: false, reason: 'REPLAYED' };
    return { ok: true, enrollment: { ...enrollment, lastUsedStep: step } };
  }

  /** Spends one recovery code instead of a TOTP code. */
  useRecoveryCode(enrollment: TotpEnrollment | undefined, code: string): { ok: true; enrollment: TotpEnrollment; remaining: number } | { ok: false; reason: 'INVALID_CODE' | 'NOT_ENROLLED' } {
    if (enrollment?.status !== 'active') return { ok: false, reason: 'NOT_ENROLLED' };
    const hash = this.#digest.sha256Hex(normalizeRecoveryCode(code));
    if (!enrollment.recoveryCodeHashes.includes(hash)) return { ok: false, reason: 'INVALID_CODE' };
    const recoveryCodeHashes = enrollment.recoveryCodeHashes.filter((candidate) => candidate !== hash);
    return { ok: true, enrollment: { ...enrollment, recoveryCodeHashes }, remaining: recoveryCodeHashes.length };
  }

  /** Replaces all recovery codes (the old ones stop working). */
  regenerateRecoveryCodes(enrollment: TotpEnrollment): { enrollment: TotpEnrollment; recoveryCodes: string[] } {
    if (enrollment.status !== 'active') throw twoFactorState('two-factor authentication is not active');
    const { codes, hashes } = this.#newRecoveryCodes();
    return { enrollment: { ...enrollment, recoveryCodeHashes: hashes }, recoveryCodes: codes };
  }

  #newRecoveryCodes(): { codes: string[]; hashes: string[] } {
    const codes: string[] = [];
    while (codes.length < RECOVERY_CODE_COUNT) {
      const raw = randomString((size) => this.#random.bytes(size), RECOVERY_ALPHABET, 10);
      const code = `${raw.slice(0, 5)}-${raw.slice(5)}`;
      if (!codes.includes(code)) codes.push(code);
    }
    return { codes, hashes: codes.map((code) => this.#digest.sha256Hex(normalizeRecoveryCode(code))) };
  }
}

/** Apps show "123 456"; people paste with spaces. */
function normalizeCode(code: string): string {
  return code.replace(/\s+/g, '');
}

function normalizeRecoveryCode(code: string): string {
  return code.toLowerCase().replace(/[\s-]+/g, '');
}

export interface TwoFactorRequirement {
  accountId: string;
  requireTwoFactor: boolean;
}

/**
 * "Require 2FA for all members": an account's requirement covers its subtree, so a login into an
 * account needs 2FA if that account or any ancestor requires it (`path` root-first).
 */
export function isTwoFactorRequired(path: readonly TwoFactorRequirement[]): boolean {
  return path.some((account) => account.requireTwoFactor);
}

export type SecondFactorDecision =
  | { needed: false }
  | { needed: true; reason: 'ENROLLED' }
  | { needed: true; reason: 'ENROLLMENT_REQUIRED' };

/** After a good password: does the login need a code, or must the user enroll first? */
export function secondFactorFor(enrollment: TotpEnrollment | undefined, accountPath: readonly TwoFactorRequirement[]): SecondFactorDecision {
  if (enrollment?.status === 'active') return { needed: true, reason: 'ENROLLED' };
  if (isTwoFactorRequired(accountPath)) return { needed: true, reason: 'ENROLLMENT_REQUIRED' };
  return { needed: false };
}

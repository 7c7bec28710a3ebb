/**
 * `TotpEngine` over `otpauth`: RFC 6238 TOTP, HMAC-SHA-1, 30 s steps, 6 digits by default
 * (what every authenticator app supports).
 */
import { Secret, TOTP } from 'otpauth';
import type { TotpEngine, TotpParams } from '../domain/two-factor.ts';

export const defaultTotpParams: TotpParams = Object.freeze({ algorithm: 'SHA1', digits: 6, periodSeconds: 30 });

export class OtpauthTotpEngine implements TotpEngine {
  readonly params: TotpParams;

  constructor(params: Partial<TotpParams> = {}) {
    this.params = Object.freeze({ ...defaultTotpParams, ...params });
  }

  encodeSecret(bytes: Uint8Array): string {
    return new Secret({ buffer: bytes.slice().buffer }).base32;
  }

  uri(secretBase32: string, label: string, issuer: string): string {
    return this.#totp(secretBase32, label, issuer).toString();
  }

  generate(secretBase32: string, nowMs: number): string {
    return this.#totp(secretBase32).generate({ timestamp: nowMs });
  }

  matchStep(secretBase32: string, code: string, nowMs: number, windowSteps: number): number | null {
    if (!new RegExp(`^\\d{${this.params.digits}}$`).test(code)) return null;
    const totp = this.#totp(secretBase32);
    // otpauth compares in constant time and returns the step offset of the match.
    const delta = totp.validate({ token: code, timestamp: nowMs, window: windowSteps });
    return delta === null ? null : totp.counter({ timestamp: nowMs }) + delta;
  }

  #totp(secretBase32: string, label = 'Tollgate', issuer = 'Tollgate'): TOTP {
    return new TOTP({
      issuer,
      label,
      secret: Secret.fromBase32(secretBase32),
      algorithm: this.params.algorithm,
      digits: this.params.digits,
      period: this.params.periodSeconds,
    });
  }
}

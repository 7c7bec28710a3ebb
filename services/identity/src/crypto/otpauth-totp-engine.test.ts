import { describe, expect, it } from 'vitest';
import { OtpauthTotpEngine } from './otpauth-totp-engine.ts';

// RFC 6238 Appendix B, SHA-1, secret ASCII "12345678901234567890", 8 digits, T0 = 0, X = 30.
const rfcSecret = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'; // base32 of "12345678901234567890"

describe('OtpauthTotpEngine', () => {
  const rfc = new OtpauthTotpEngine({ digits: 8 });
  it.each([
    [59, '94287082'],
    [1111111109, '07081804'],
    [1111111111, '14050471'],
    [1234567890, '89005924'],
    [2000000000, '69279037'],
    [20000000000, '65353130'],
  ])('RFC 6238 vector at T=%i s → %s', (seconds, code) => {
    expect(rfc.generate(rfcSecret, seconds * 1000)).toBe(code);
    expect(rfc.matchStep(rfcSecret, code, seconds * 1000, 0)).toBe(Math.floor(seconds / 30));
  });

  it('encodes the RFC secret to the expected base32', () => {
    expect(rfc.encodeSecret(new TextEncoder().encode('12345678901234567890'))).toBe(rfcSecret);
  });

  const engine = new OtpauthTotpEngine();
  const nowMs = 1_700_000_000_000;
  const step = Math.floor(nowMs / 30_000);
  it.each([
    ['current step', 0, step],
    ['one step early (clock drift)', -1, step - 1],
    ['one step late', 1, step + 1],
    ['two steps off', -2, null],
  ])('window ±1: code of the %s', (_case, offset, expected) => {
    const code = engine.generate(rfcSecret, nowMs + offset * 30_000);
    expect(engine.matchStep(rfcSecret, code, nowMs, 1)).toBe(expected);
  });

  it.each(['', '12345', '1234567', 'abcdef'])('malformed code %j never matches', (code) => {
    expect(engine.matchStep(rfcSecret, code, nowMs, 1)).toBeNull();
  });

  it('builds an otpauth:// URI with issuer, SHA1, 6 digits, 30 s', () => {
    const uri = new URL(engine.uri(rfcSecret, 'alice@acme', 'Tollgate'));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(Object.fromEntries(uri.searchParams)).toMatchObject({ secret: rfcSecret, issuer: 'Tollgate', algorithm: 'SHA1', digits: '6', period: '30' });
  });
});

import { describe, expect, it } from 'vitest';
import { createSessionCodec, type SessionClaims } from './session-codec.ts';

const key = new Uint8Array(32).fill(7);
const timeouts = { idleMs: 30 * 60_000, absoluteMs: 12 * 3_600_000 };
const T0 = 1_800_000_000_000;

function codecAt(clock: { t: number }, secret = key) {
  return createSessionCodec(secret, timeouts, () => clock.t);
}
const claims = (t: number): SessionClaims => ({ cred: 'eyJ.access.jwt', rt: 'rt_1', credExp: t + 3_600_000, via: 'password', csrf: 'c'.repeat(32), name: 'ada', started: t, seen: t });

describe('session codec', () => {
  it('round-trips the claims through an opaque JWE (dir + A256GCM)', async () => {
    const clock = { t: T0 };
    const codec = codecAt(clock);
    const jwe = await codec.sealSession(claims(T0));
    expect(JSON.parse(Buffer.from(jwe.split('.')[0]!, 'base64url').toString())).toEqual({ alg: 'dir', enc: 'A256GCM' });
    expect(jwe).not.toContain('ada');
    expect(await codec.openSession(jwe)).toEqual(claims(T0));
  });

  it('opens nothing sealed under another key, tampered with, or of another purpose', async () => {
    const clock = { t: T0 };
    const jwe = await codecAt(clock).sealSession(claims(T0));
    expect(await codecAt(clock, new Uint8Array(32).fill(8)).openSession(jwe)).toBeUndefined();
    const parts = jwe.split('.');
    const ct = Buffer.from(parts[3]!, 'base64url');
    ct[0] = ct[0]! ^ 1;
    parts[3] = ct.toString('base64url');
    expect(await codecAt(clock).openSession(parts.join('.'))).toBeUndefined();
    const pending = await codecAt(clock).sealPending({ username: 'ada', password: 'pw', accountId: '', csrf: 'x', exp: T0 + 60_000 });
    expect(await codecAt(clock).openSession(pending)).toBeUndefined();
    expect(await codecAt(clock).openSession('not a jwe')).toBeUndefined();
  });

  it('ends a session idle past the idle timeout, or past the absolute one', async () => {
    const clock = { t: T0 };
    const codec = codecAt(clock);
    const jwe = await codec.sealSession(claims(T0));
    clock.t = T0 + timeouts.idleMs;
    expect(await codec.openSession(jwe)).toBeDefined();
    clock.t = T0 + timeouts.idleMs + 1;
    expect(await codec.openSession(jwe)).toBeUndefined();
    const active = { ...claims(T0), seen: T0 + timeouts.absoluteMs - 1_000 };
    clock.t = T0 + timeouts.absoluteMs - 500;
    const resealed = await codec.sealSession(active);
    expect(await codec.openSession(resealed)).toBeDefined();
    clock.t = T0 + timeouts.absoluteMs + 1;
    expect(await codec.openSession(resealed)).toBeUndefined();
  });

  it('keeps a pending TOTP sign-in for its few minutes only', async () => {
    const clock = { t: T0 };
    const codec = codecAt(clock);
    const jwe = await codec.sealPending({ username: 'ada', password: 'pw', accountId: 'acc_1', csrf: 'x', exp: T0 + 300_000 });
    expect(await codec.openPending(jwe)).toMatchObject({ username: 'ada', password: 'pw', accountId: 'acc_1', csrf: 'x' });
    clock.t = T0 + 301_000;
    expect(await codec.openPending(jwe)).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { InMemoryRefreshTokenStore } from '../../test/doubles/in-memory-refresh-token-store.ts';
import { RefreshTokenService } from './refresh-tokens.ts';
import { FakeClock, FakeDigest, SeededRandom } from '../../test/doubles/test-doubles.ts';

const DAY = 86_400_000;

function setup() {
  const store = new InMemoryRefreshTokenStore();
  const clock = new FakeClock();
  const service = new RefreshTokenService({ store, clock, random: new SeededRandom(), digest: new FakeDigest(), policy: { tokenTtlMs: 1 * DAY, familyTtlMs: 3 * DAY } });
  return { store, clock, service };
}

describe('RefreshTokenService', () => {
  it('issues a random token and stores only its digest', async () => {
    const { store, service } = setup();
    const issued = await service.startFamily('usr_1', 'acc_1');
    expect(issued.token).toMatch(/^rt_[A-Za-z0-9_-]{43}$/);
    expect(await store.findToken(issued.token)).toBeUndefined();
    expect(await store.findToken(`sha256(${issued.token})`)).toMatchObject({ familyId: issued.familyId, usedAtMs: null });
  });

  it('rotates on every use, keeping the family', async () => {
    const { service } = setup();
    const first = await service.startFamily('usr_1', 'acc_1');
    const second = await service.rotate(first.token);
    if (!second.ok) throw new Error(second.reason);
    expect(second.issued.token).not.toBe(first.token);
    expect(second.issued.familyId).toBe(first.familyId);
    const third = await service.rotate(second.issued.token);
    expect(third.ok).toBe(true);
  });

  it('reuse of a spent token revokes the whole family', async () => {
    const { service, store } = setup();
    const first = await service.startFamily('usr_1', 'acc_1');
    const second = await service.rotate(first.token);
    if (!second.ok) throw new Error(second.reason);
    // The thief replays the old token:
    expect(await service.rotate(first.token)).toEqual({ ok: false, reason: 'REUSE_DETECTED', familyId: first.familyId, userId: 'usr_1' });
    expect((await store.getFamily(first.familyId))?.revokeReason).toBe('reuse_detected');
    // …and the legitimate holder's newer token is dead too.
    expect(await service.rotate(second.issued.token)).toEqual({ ok: false, reason: 'FAMILY_REVOKED' });
  });

  it('two concurrent refreshes of one token: one wins, the family is revoked', async () => {
    const { service } = setup();
    const first = await service.startFamily('usr_1', 'acc_1');
    const results = await Promise.all([service.rotate(first.token), service.rotate(first.token)]);
    expect(results.filter((result) => result.ok)).toHaveLength(1);
    expect(results.find((result) => !result.ok)).toMatchObject({ reason: 'REUSE_DETECTED' });
  });

  it('logout revokes the family; logout is idempotent', async () => {
    const { service } = setup();
    const first = await service.startFamily('usr_1', 'acc_1');
    expect(await service.revokeFamilyOf(first.token)).toEqual({ familyId: first.familyId, revoked: true });
    expect(await service.revokeFamilyOf(first.token)).toEqual({ familyId: first.familyId, revoked: false });
    expect(await service.rotate(first.token)).toEqual({ ok: false, reason: 'FAMILY_REVOKED' });
    expect(await service.revokeFamilyOf('rt_unknown')).toBeUndefined();
  });

  it.each([
    ['the token idles past its ttl', [1 * DAY], 'EXPIRED'],
    ['the family passes its absolute ttl while rotating', [0.9 * DAY, 0.9 * DAY, 0.9 * DAY, 0.9 * DAY], 'EXPIRED'],
  ])('expires when %s', async (_case, steps, reason) => {
    const { service, clock } = setup();
    let token = (await service.startFamily('usr_1', 'acc_1')).token;
    let last;
    for (const step of steps) {
      clock.advance(step);
      last = await service.rotate(token);
      if (last.ok) token = last.issued.token;
    }
    expect(last).toEqual({ ok: false, reason });
  });

  it.each(['', 'rt_', 'garbage', `rt_${'x'.repeat(100)}`])('unknown token %j', async (token) => {
    expect(await setup().service.rotate(token)).toEqual({ ok: false, reason: 'UNKNOWN_TOKEN' });
  });

  it('switching account re-targets the successor', async () => {
    const { service } = setup();
    const first = await service.startFamily('usr_1', 'acc_1');
    const next = await service.rotate(first.token, { switchToAccountId: 'acc_2' });
    expect(next.ok && next.issued.accountId).toBe('acc_2');
  });

  it('revokeAllOfUser (password change)', async () => {
    const { service } = setup();
    const a = await service.startFamily('usr_1', 'acc_1');
    const b = await service.startFamily('usr_1', 'acc_2');
    await service.startFamily('usr_2', 'acc_1');
    expect((await service.revokeAllOfUser('usr_1', 'password_changed')).sort()).toEqual([a.familyId, b.familyId].sort());
  });
});

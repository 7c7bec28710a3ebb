import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryAuthenticator } from './doubles/in-memory-authenticator.ts';
import type { ThrottleEpisode } from '../src/domain/credential-throttle.ts';
import { defaultUsers, RawClient, startBroker, type TestBroker } from './harness.ts';

/**
 * Issue 11, item 3: bad MQTT credentials are throttled at the edge, per source address and per
 * username, with a backoff of their own — refused without asking authz (counted here). The clock
 * is the test's; nothing sleeps.
 */
let tb: TestBroker | undefined;
const raws: RawClient[] = [];
afterEach(async () => {
  raws.splice(0).forEach((r) => r.close());
  await tb?.close();
  tb = undefined;
});

function setup(policy: Record<string, number> = {}) {
  const clock = { t: 1_000_000, nowMs: () => clock.t };
  const authenticator = new InMemoryAuthenticator({ users: defaultUsers });
  const episodes: ThrottleEpisode[] = [];
  return { clock, authenticator, episodes, options: { authenticator, clock, credentialThrottle: policy, onCredentialThrottle: (e: ThrottleEpisode) => episodes.push(e) } };
}

describe('credential-failure throttle at the edge', () => {
  it('after 5 wrong passwords for a username, refuses its CONNECTs (0x87, v3 rc 5) without calling authz, for a doubling backoff', async () => {
    const { clock, authenticator, episodes, options } = setup();
    tb = await startBroker(options);
    const answers: number[] = [];
    for (let i = 0; i < 12; i++) {
      const error = await tb.connect({ protocolVersion: 5, username: 'alice', password: 'wrong' }).then(
        () => 0,
        (e: { code?: number }) => e.code ?? -1,
      );
      answers.push(error);
    }
    expect(answers).toEqual([0x86, 0x86, 0x86, 0x86, 0x86, 0x87, 0x87, 0x87, 0x87, 0x87, 0x87, 0x87]);
    expect(authenticator.calls).toBe(5);
    expect(tb.metrics.get('connects_throttled')).toBe(7);
    // Even the right password waits out the block (it is the username that is throttled)…
    await expect(tb.connect({ protocolVersion: 4, username: 'alice', password: 'pw-a' })).rejects.toMatchObject({ code: 5 });
    expect(authenticator.calls).toBe(5);
    // …while another user from the same address (below the address threshold) is not held up.
    expect((await tb.connect({ username: 'bob', password: 'pw-b' })).connected).toBe(true);
    // The first block is 1 s; past it, the right password goes through to authz and clears the count.
    clock.t += 1_000;
    expect((await tb.connect({ username: 'alice', password: 'pw-a' })).connected).toBe(true);
    expect(authenticator.calls).toBe(7);
    // One log line when the episode started and one when it ended, with the refusals counted.
    expect(episodes).toEqual([
      { phase: 'started', scope: 'username', key: expect.any(String), failures: 5, blockedForMs: 1_000, refused: 0 },
      { phase: 'ended', scope: 'username', key: expect.any(String), failures: 5, blockedForMs: 0, refused: 8 },
    ]);
    // The key is a digest, never the username (often a token secret).
    expect(episodes[0]!.key).not.toContain('alice');
  });

  it('the block doubles with every further failure and a quiet window forgets the count', async () => {
    const { clock, authenticator, options } = setup({ maxFailuresPerUsername: 2, windowMs: 60_000 });
    tb = await startBroker(options);
    const attempt = () => tb!.connect({ protocolVersion: 5, username: 'bob', password: 'wrong' }).then(() => 0, (e: { code?: number }) => e.code ?? -1);
    expect([await attempt(), await attempt(), await attempt()]).toEqual([0x86, 0x86, 0x87]); // blocked 1 s
    clock.t += 1_000;
    expect(await attempt()).toBe(0x86); // 3rd failure: blocked 2 s
    clock.t += 1_500;
    expect(await attempt()).toBe(0x87);
    clock.t += 500;
    expect(await attempt()).toBe(0x86); // 4th failure: blocked 4 s
    expect(authenticator.calls).toBe(4);
    clock.t += 4_000 + 60_000;
    // Forgotten: two fresh tries reach authz again.
    expect([await attempt(), await attempt()]).toEqual([0x86, 0x86]);
    expect(authenticator.calls).toBe(6);
  });

  it('throttles a source address that fails over many usernames (a fuzzer), for every username', async () => {
    const { authenticator, options } = setup();
    tb = await startBroker(options);
    for (let i = 0; i < 10; i++) {
      await expect(tb.connect({ protocolVersion: 5, username: `junk-${i}`, password: 'x' })).rejects.toMatchObject({ code: 0x86 });
    }
    expect(authenticator.calls).toBe(10);
    await expect(tb.connect({ protocolVersion: 5, username: 'bob', password: 'pw-b' })).rejects.toMatchObject({ code: 0x87 });
    await expect(tb.connect({ protocolVersion: 4, username: 'bob', password: 'pw-b' })).rejects.toMatchObject({ code: 5 });
    expect(authenticator.calls).toBe(10);
  });

  it('holds at most maxEntries counters (LRU), however many usernames a flood invents', async () => {
    const { options } = setup({ maxEntries: 20, maxFailuresPerAddress: 1_000 });
    tb = await startBroker(options);
    for (let i = 0; i < 60; i++) await tb.connect({ protocolVersion: 5, username: `flood-${i}`, password: 'x' }).catch(() => {});
    // 60 username counters and one address counter were made; the map kept the 20 newest.
    expect(tb.broker.stats().credentialCounters).toBe(20);
  });

  it('refuses a username with NUL or a noncharacter, or a password with a NUL byte, as bad credentials (0x86, v3 rc 4), never 0x88', async () => {
    const { authenticator, options } = setup();
    tb = await startBroker(options);
    for (const [version, username, password, code] of [
      [5, 'ali\u0000ce', 'pw-a', 0x86],
      [4, 'ali\u0000ce', 'pw-a', 4],
      [5, 'alice\uFFFF', 'pw-a', 0x86],
      [5, 'alice', 'pw\u0000a', 0x86],
    ] as const) {
      const r = new RawClient(tb.port, version);
      raws.push(r);
      await r.ready();
      r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: `nul-${version}`, clean: true, keepalive: 0, username, password: Buffer.from(password) });
      expect(await r.next('connack')).toMatchObject(version === 5 ? { reasonCode: code } : { returnCode: code });
    }
    expect(authenticator.calls).toBe(0);
    // The broker goes on serving.
    expect((await tb.connect({ username: 'bob', password: 'pw-b' })).connected).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { InvalidationKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { followInvalidations, type InvalidationTarget } from '../src/clients/invalidation-follower.ts';

type Event = { sequence: bigint; kind: InvalidationKind; tokenId: string; accountId: string; grantId: string };
const event = (sequence: number, kind: InvalidationKind, ids: Partial<Event> = {}): Event => ({ sequence: BigInt(sequence), kind, tokenId: '', accountId: '', grantId: '', ...ids });

describe("the broker's invalidation follower", () => {
  it('applies every event, resumes after the last sequence it applied when the feed breaks, and says whether it is live', async () => {
    const asked: bigint[] = [];
    const applied: string[] = [];
    const sleeps: number[] = [];
    const warnings: string[] = [];
    let secondOpen!: () => void;
    const reopened = new Promise<void>((resolve) => (secondOpen = resolve));
    const authz = {
      async *watchInvalidations(req: { afterSequence: bigint }, opts: { signal: AbortSignal }) {
        asked.push(req.afterSequence);
        if (asked.length === 1) {
          yield event(1, InvalidationKind.TOKEN_REVOKED, { tokenId: 'tok_a' });
          yield event(2, InvalidationKind.GRANT_REVOKED, { grantId: 'grt_x' });
          throw new Error('stream reset by peer');
        }
        yield event(3, InvalidationKind.ACCOUNT_SUSPENDED, { accountId: 'acc_s' });
        secondOpen();
        // Stays open until the follower stops.
        await new Promise<void>((_, reject) => opts.signal.addEventListener('abort', () => reject(new Error('aborted'))));
      },
    };
    const target: InvalidationTarget = {
      onToken: (id, kind) => applied.push(`token ${id} ${kind}`),
      onAccountSuspended: (id) => applied.push(`account ${id}`),
      onGrant: (id) => applied.push(`grant ${id}`),
      onReset: () => applied.push('reset'),
    };
    const logger = { warn: (_o: unknown, msg: string) => warnings.push(msg) };
    const feed = followInvalidations({ authz: authz as never, target, logger: logger as never, sleep: async (ms) => void sleeps.push(ms) });
    await reopened;
    expect(applied).toEqual(['token tok_a revoked', 'grant grt_x', 'account acc_s']);
    // Resumed after sequence 2, after the first backoff (100 ms), with one line logged.
    expect(asked).toEqual([0n, 2n]);
    expect(sleeps).toEqual([100]);
    expect(warnings).toEqual(['invalidation feed interrupted; reconnecting']);
    expect(feed.connected()).toBe(true);
    feed.stop();
    await expect.poll(() => feed.connected()).toBe(false);
  });
});

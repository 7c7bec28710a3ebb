import { describe, expect, it } from 'vitest';
import { DecisionLog, type DecisionRecord } from './decision-log.ts';

const denial = (i: number, over: Partial<DecisionRecord> = {}): DecisionRecord => ({
  atMs: i, allowed: false, reason: 'acl_no_match', action: 'publish', resource: `mqtt:t/${i}`, accountId: 'acc_a', subject: 'tok_a', clientId: 'dev', peerIp: '127.0.0.1', source: 'grpc', ...over,
});
const resources = (page: { decisions: DecisionRecord[] }) => page.decisions.map((d) => d.resource);

describe('DecisionLog.page', () => {
  it('pages newest first by sequence, unshifted by decisions recorded between pages', () => {
    const log = new DecisionLog({ capacity: 10 });
    for (let i = 0; i < 5; i++) log.record(denial(i));
    const first = log.page({ limit: 2 });
    expect(resources(first)).toEqual(['mqtt:t/4', 'mqtt:t/3']);
    log.record(denial(99));
    const second = log.page({ limit: 2, before: first.nextBefore });
    expect(resources(second)).toEqual(['mqtt:t/2', 'mqtt:t/1']);
    const last = log.page({ limit: 2, before: second.nextBefore });
    expect(resources(last)).toEqual(['mqtt:t/0']);
    expect(last.nextBefore).toBeUndefined();
  });

  it('ends at the oldest record the ring still holds after it wrapped, and a full last page has no next', () => {
    const log = new DecisionLog({ capacity: 4 });
    for (let i = 0; i < 7; i++) log.record(denial(i));
    const first = log.page({ limit: 2 });
    expect(resources(first)).toEqual(['mqtt:t/6', 'mqtt:t/5']);
    const second = log.page({ limit: 2, before: first.nextBefore });
    expect(resources(second)).toEqual(['mqtt:t/4', 'mqtt:t/3']);
    expect(second.nextBefore).toBeUndefined();
  });

  it('filters by account, reason, source and client before counting the page', () => {
    const log = new DecisionLog({ capacity: 20 });
    log.record(denial(1, { source: 'emqx' }));
    log.record(denial(2, { clientId: 'other' }));
    log.record(denial(3, { reason: 'token_revoked' }));
    log.record(denial(4, { accountId: 'acc_b' }));
    log.record(denial(5));
    expect(resources(log.page({ limit: 10, source: 'grpc', clientId: 'dev', reason: 'acl_no_match', accountId: 'acc_a' }))).toEqual(['mqtt:t/5']);
    expect(resources(log.page({ limit: 10, source: 'emqx' }))).toEqual(['mqtt:t/1']);
    const one = log.page({ limit: 1, accountId: 'acc_a', reason: 'acl_no_match' });
    expect(resources(one)).toEqual(['mqtt:t/5']);
    expect(resources(log.page({ limit: 1, accountId: 'acc_a', reason: 'acl_no_match', before: one.nextBefore }))).toEqual(['mqtt:t/2']);
  });
});

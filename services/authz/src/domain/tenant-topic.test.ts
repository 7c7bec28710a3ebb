import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AclRule } from '#libs/acl/acl-rule.ts';
import { checkAccess, compileRules } from '#libs/acl/acl-engine.ts';
import { checkAccountLevel, mountedTopicMatches, mountTopic, unmountTopic } from './tenant-topic.ts';

describe('tenant topics', () => {
  it('mounts and unmounts within one account only', () => {
    expect(mountTopic('acc_1', 'a/b')).toBe('acc_1/a/b');
    expect(unmountTopic('acc_1', 'acc_1/a/b')).toBe('a/b');
    expect(unmountTopic('acc_2', 'acc_1/a/b')).toBeNull();
    expect(unmountTopic('acc_1', 'acc_10/a')).toBeNull();
    expect(mountedTopicMatches('acc_1', '#', 'acc_1/$SYS/x')).toBe(false); // [MQTT-4.7.2-1] kept
    expect(mountedTopicMatches('acc_1', '#', 'acc_1/x')).toBe(true);
  });

  it.each(['', '$acc', 'a/b', 'a+', 'a#', 'a\u0000'])('refuses account id %j', (id) => {
    expect(checkAccountLevel(id)).not.toBeNull();
    expect(() => mountTopic(id, 'x')).toThrow(/account_id/);
  });

  // Random accounts, random tokens (rules that may name other accounts literally, use ${account},
  // wildcards), random topics and filters: whatever the engine allows lands in the token's own account.
  const accountId = fc.constantFrom('acc_1', 'acc_2', 'acc_10', 'a');
  const level = fc.constantFrom('acc_1', 'acc_2', 'a', 'x', '+', '${account}', '$SYS');
  const ruleFilter = fc
    .tuple(fc.array(level, { minLength: 1, maxLength: 3 }), fc.boolean())
    .map(([l, hash]) => (hash ? [...l, '#'] : l).join('/'));
  const rule = fc.record({
    effect: fc.constantFrom('allow', 'deny'),
    actions: fc.constant(['publish', 'subscribe']),
    resources: fc.array(ruleFilter.map((f) => `mqtt:${f}`), { minLength: 1, maxLength: 2 }),
  }) as fc.Arbitrary<AclRule>;
  const topicLevel = fc.constantFrom('acc_1', 'acc_2', 'a', 'x', '$SYS');
  const topic = fc.array(topicLevel, { minLength: 1, maxLength: 4 }).map((l) => l.join('/'));
  const filter = fc
    .tuple(fc.array(fc.constantFrom('acc_1', 'acc_2', 'a', 'x', '+'), { minLength: 1, maxLength: 3 }), fc.boolean())
    .map(([l, hash]) => (hash ? [...l, '#'] : l).join('/'));

  it('no token ever gets a decision outside its account', () => {
    fc.assert(
      fc.property(accountId, accountId, fc.array(rule, { maxLength: 6 }), topic, filter, topic, (own, other, rules, t, f, otherTopic) => {
        const acl = compileRules(rules);
        const vars = { account: own, client_id: 'c1' };
        if (checkAccess(acl, { action: 'publish', resource: `mqtt:${t}`, vars }).allowed) {
          const mounted = mountTopic(own, t);
          expect(unmountTopic(own, mounted)).toBe(t);
          if (other !== own) expect(unmountTopic(other, mounted)).toBeNull();
        }
        if (checkAccess(acl, { action: 'subscribe', resource: `mqtt:${f}`, vars }).allowed && other !== own) {
          // An allowed subscription never receives another account's message, whatever its topic.
          expect(mountedTopicMatches(own, f, mountTopic(other, otherTopic))).toBe(false);
          expect(mountedTopicMatches(own, f, mountTopic(other, t))).toBe(false);
        }
      }),
      { numRuns: 3_000 },
    );
  });
});

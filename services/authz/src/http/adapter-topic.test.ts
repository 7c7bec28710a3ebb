import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { topicMatches } from '#libs/topics/topic-filter.ts';
import { adapterTopic, splitAccountTopic } from './adapter-topic.ts';

const A = 'acc_0123456789abcdefghjk';
const B = 'acc_abcdefghjk0123456789';

describe('splitAccountTopic (TOLLGATE_SHARED_BROKER_NAMESPACE=account-prefix)', () => {
  it.each([
    [`${A}/devices/c1/t`, { accountId: A, topic: 'devices/c1/t' }],
    [`${A}/#`, { accountId: A, topic: '#' }],
    [`${A}/+/x`, { accountId: A, topic: '+/x' }],
    [`${A}/x/$y`, { accountId: A, topic: 'x/$y' }], // `$` is special at the first level only
  ])('%s → its account and the topic inside it', (topic, expected) => {
    expect(splitAccountTopic(topic)).toEqual(expected);
  });

  it.each([
    ['#'],
    ['+/x'],
    ['/devices/x'], // an empty first level
    ['devices/c1/t'], // no account level at all
    [A], // nothing inside the account
    [`${A}/`],
    ['$SYS/broker/uptime'],
    ['$queue/x'],
    [`${A}/$SYS/x`], // `<A>/#` would match it on the broker, never in the engine
    ['acc_short/x'],
    ['ACC_0123456789ABCDEFGHJK/x'],
    ['tok_0123456789abcdefghjk/x'],
  ])('refuses %j', (topic) => {
    expect(splitAccountTopic(topic)).toBeUndefined();
  });

  it('sees a shared subscription without its `$share/{group}/` (adapterTopic takes it off first)', () => {
    expect(splitAccountTopic(adapterTopic('subscribe', `$share/g1/${A}/jobs/#`)!)).toEqual({ accountId: A, topic: 'jobs/#' });
    expect(splitAccountTopic(adapterTopic('subscribe', '$share/g1/#')!)).toBeUndefined();
  });

  // Whatever a shared broker matches (its own MQTT matching, on the whole strings) between an accepted
  // filter and an accepted topic lies in one account, and the engine matches the parts inside it the
  // same way: so what the engine allowed for the filter is exactly what the broker delivers.
  it('a filter accepted for one account matches on the broker only topics of that account, exactly as the engine matches them', () => {
    const level = fc.constantFrom(A, B, 'x', 'y', '$SYS', '$x', '');
    const topic = fc.array(level, { minLength: 1, maxLength: 4 }).map((l) => l.join('/'));
    const filter = fc
      .tuple(fc.array(fc.constantFrom(A, B, 'x', '$x', '+', ''), { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([l, hash]) => (hash ? [...l, '#'] : l).join('/'));
    fc.assert(
      fc.property(filter, topic, (f, t) => {
        const sf = splitAccountTopic(f);
        const st = splitAccountTopic(t);
        if (!sf || !st || !topicMatches(f, t)) return;
        expect(st.accountId).toBe(sf.accountId);
        expect(topicMatches(sf.topic, st.topic)).toBe(true);
      }),
      { numRuns: 5_000 },
    );
  });
});

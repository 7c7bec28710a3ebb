import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkTopicFilter, checkTopicName, parseSharedFilter, topicMatches } from './topic-filter.ts';

const big = 'a'.repeat(65_535);

describe('checkTopicName', () => {
  const valid = ['a', 'a/b', '/', '//', 'a/', '/a', '$SYS/x', 'devices/ünïcödé/😀', big, 'é'.repeat(32_767)];
  it.each(valid)('accepts %j', (topic) => expect(checkTopicName(topic)).toBeNull());

  const invalid: [string, RegExp][] = [
    ['', /empty/],
    ['a/+', /wildcard/],
    ['a/#', /wildcard/],
    ['a+b', /wildcard/],
    ['a\u0000b', /U\+0000/],
    [big + 'a', /65535 bytes/],
    ['é'.repeat(32_768), /65535 bytes/],
    ['a\ud800b', /surrogate/],
  ];
  it.each(invalid)('rejects %j', (topic, problem) => expect(checkTopicName(topic)).toMatch(problem));
});

describe('checkTopicFilter', () => {
  const valid = ['#', '+', 'a/#', 'a/+/b', '+/+', '/+', '+/', 'a//#', '$SYS/#', '$share/g/a/#', '$share/g/#', '$share/g/+/x', 'a', big];
  it.each(valid)('accepts %j', (filter) => expect(checkTopicFilter(filter)).toBeNull());

  const invalid: [string, RegExp][] = [
    ['', /empty/],
    ['a/#/b', /last level/],
    ['a#', /whole level/],
    ['#/', /last level/],
    ['a/b#', /whole level/],
    ['a+', /whole level/],
    ['a/+b', /whole level/],
    ['++', /whole level/],
    ['a\u0000', /U\+0000/],
    [big + '/', /bytes/],
    ['$share/g', /\$share\/\{group\}/],
    ['$share', /\$share\/\{group\}/],
    ['$share//a', /group must not be empty/],
    ['$share/g+/a', /group must not contain/],
    ['$share/g#/a', /group must not contain/],
    ['$share/g/', /filter must not be empty/],
    ['$share/g/a/#/b', /last level/],
  ];
  it.each(invalid)('rejects %j', (filter, problem) => expect(checkTopicFilter(filter)).toMatch(problem));
});

describe('parseSharedFilter', () => {
  it.each([
    ['$share/g/a/b', { group: 'g', filter: 'a/b' }],
    ['$share/g/#', { group: 'g', filter: '#' }],
    ['$share//a', { group: '', filter: 'a' }],
    ['$share/g', null],
    ['a/b', null],
    ['$SYS/a', null],
  ] as const)('%j → %j', (filter, parsed) => expect(parseSharedFilter(filter)).toEqual(parsed));
});

describe('topicMatches', () => {
  const cases: [filter: string, topic: string, matches: boolean][] = [
    ['a/b', 'a/b', true],
    ['a/b', 'a/c', false],
    ['a/b', 'a/bc', false],
    ['a/bc', 'a/b', false],
    ['a/b', 'a/b/c', false],
    ['a/b/c', 'a/b', false],
    ['+', 'a', true],
    ['+', 'a/b', false],
    ['+', '/', false],
    ['+/+', '/', true],
    ['/+', '/a', true],
    ['+/a', '/a', true],
    ['a/+', 'a/', true],
    ['a/+', 'a', false],
    ['a/+/c', 'a/b/c', true],
    ['a/+/c', 'a//c', true],
    ['a/+/c', 'a/b/d', false],
    ['#', 'a', true],
    ['#', 'a/b/c', true],
    ['#', '/', true],
    ['a/#', 'a', true], // [MQTT-4.7.1-2] '#' includes the parent level
    ['a/#', 'a/', true],
    ['a/#', 'a/b/c', true],
    ['a/#', 'ab', false],
    ['a/#', 'b/a', false],
    ['a/b/#', 'a', false],
    ['a//b', 'a//b', true],
    ['a//b', 'a/b', false],
    ['#', '$SYS/x', false], // [MQTT-4.7.2-1]
    ['+/x', '$SYS/x', false],
    ['+', '$', false],
    ['$SYS/#', '$SYS/x', true],
    ['$SYS/+', '$SYS/x', true],
    ['a/#', 'a/$x', true],
    ['a/+', 'a/$x', true],
    ['$share/g/a/+', 'a/b', true],
    ['$share/g/#', 'x', true],
    ['$share/g/#', '$SYS/x', false],
    ['ü/+', 'ü/😀', true],
  ];
  it.each(cases)('%j vs %j → %s', (filter, topic, matches) => expect(topicMatches(filter, topic)).toBe(matches));

  // Slow, obviously correct reference: split into levels and compare.
  function referenceMatches(filter: string, topic: string): boolean {
    const f = filter.split('/');
    const t = topic.split('/');
    if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
    for (let i = 0; i < f.length; i++) {
      if (f[i] === '#') return true;
      if (i >= t.length) return false;
      if (f[i] !== '+' && f[i] !== t[i]) return false;
    }
    return f.length === t.length;
  }
  const level = fc.constantFrom('a', 'b', '', '$', 'ab');
  const topic = fc.array(level, { minLength: 1, maxLength: 5 }).map((l) => l.join('/')).filter((t) => t.length > 0);
  const filter = fc
    .tuple(fc.array(fc.constantFrom('a', 'b', '', '+', '$', 'ab'), { minLength: 1, maxLength: 5 }), fc.boolean())
    .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
    .filter((f) => f.length > 0);

  it('agrees with a reference matcher on random filters and topics', () => {
    fc.assert(
      fc.property(filter, topic, (f, t) => {
        expect(checkTopicFilter(f)).toBeNull();
        expect(topicMatches(f, t)).toBe(referenceMatches(f, t));
      }),
      { numRuns: 5_000 },
    );
  });
});

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeLevel, encodeLevel, filterToTokenPatterns, tokensToTopic, topicToTokens } from './subject-codec.ts';

/** Any MQTT topic level: any Unicode scalar values except `/` (U+0000 included: the codec is not the validator). */
const level = fc.string({ unit: 'binary', maxLength: 12 }).map((s) => s.replaceAll('/', ''));
const awkwardLevel = fc.constantFrom('', '.', ' ', '*', '>', '$SYS', 'a.b', 'x y', '=', '=41', '%', 'é', '日本', '🙂', '\t', '-_');
const topic = fc.array(fc.oneof(level, awkwardLevel), { minLength: 1, maxLength: 6 }).map((ls) => ls.join('/'));

const NATS_TOKEN = /^[A-Za-z0-9_=-]+$/;

describe('topic ⇄ NATS subject escaping', () => {
  it('round-trips every topic, one valid non-empty non-wildcard NATS token (and KV key token) per level', () => {
    fc.assert(
      fc.property(topic, (t) => {
        const tokens = topicToTokens(t);
        const parts = tokens.split('.');
        expect(parts).toHaveLength(t.split('/').length);
        for (const p of parts) {
          expect(p).toMatch(NATS_TOKEN);
          expect(p === '*' || p === '>').toBe(false);
        }
        expect(tokensToTopic(tokens)).toBe(t);
      }),
      { numRuns: 2_000 },
    );
  });

  it('is injective: different levels never share a token', () => {
    fc.assert(
      fc.property(fc.oneof(level, awkwardLevel), fc.oneof(level, awkwardLevel), (a, b) => {
        if (a !== b) expect(encodeLevel(a)).not.toBe(encodeLevel(b));
      }),
      { numRuns: 2_000 },
    );
  });

  it.each([
    ['', '='],
    ['plain-Level_9', 'plain-Level_9'],
    ['a.b', 'a=2Eb'],
    ['$SYS', '=24SYS'],
    ['*', '=2A'],
    ['>', '=3E'],
    ['x y', 'x=20y'],
    ['é', '=C3=A9'],
    ['=', '=3D'],
  ])('level %j → token %j', (l, token) => {
    expect(encodeLevel(l)).toBe(token);
    expect(decodeLevel(token)).toBe(l);
  });

  it.each(['=41', '=c3=a9', '=2', '=ZZ', 'a.b', '*', '>', 'a b', '=FF'])('refuses the non-canonical or foreign token %j', (token) => {
    expect(decodeLevel(token)).toBeUndefined();
  });

  it.each([
    ['a/b', ['a.b']],
    ['a/+/c', ['a.*.c']],
    ['+', ['*']],
    ['#', ['>']],
    ['a/#', ['a.>', 'a']],
    ['+/#', ['*.>', '*']],
    ['a//#', ['a.=.>', 'a.=']],
    ['$SYS/#', ['=24SYS.>', '=24SYS']],
  ])('filter %j → subject patterns %j ([MQTT-4.7.1-2] a/# matches a)', (filter, patterns) => {
    expect(filterToTokenPatterns(filter)).toEqual(patterns);
  });
});

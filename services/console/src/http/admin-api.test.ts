import { describe, expect, it } from 'vitest';
import { fieldPath } from './admin-api.ts';
import { rulesFromForm } from '../pages/tokens-page.ts';

describe('fieldPath', () => {
  it.each([
    [['limit'], 'limit'],
    [['rules', 0, 'actions'], 'rules[0].actions'],
    [['limits', 2, 'kind'], 'limits[2].kind'],
    [['rules', 1, 'resources', 3], 'rules[1].resources[3]'],
    [[], ''],
  ] as const)('%o → %s', (path, expected) => {
    expect(fieldPath(path)).toBe(expected);
  });
});

describe('rules editor rows', () => {
  it('skips empty rows and remembers which row each rule came from', () => {
    const { rules, rowOf } = rulesFromForm(['allow', 'allow', 'deny'], ['publish', '', 'subscribe, publish'], ['mqtt:a/#', '', 'mqtt:a/secret\r\nmqtt:b']);
    expect(rules).toEqual([
      { effect: 'allow', actions: ['publish'], resources: ['mqtt:a/#'] },
      { effect: 'deny', actions: ['subscribe', 'publish'], resources: ['mqtt:a/secret', 'mqtt:b'] },
    ]);
    expect(rowOf).toEqual([0, 2]);
  });
});

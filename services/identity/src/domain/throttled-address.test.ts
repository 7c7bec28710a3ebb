import { describe, expect, it } from 'vitest';
import { throttledAddress } from './throttled-address.ts';

describe('throttledAddress', () => {
  it.each([
    [{ meshService: true as const, claimed: ' 203.0.113.7 ' }, '203.0.113.7'],
    [{ meshService: true as const, claimed: '' }, null],
    [{ meshService: false as const, socketIp: '198.51.100.2' }, '198.51.100.2'],
    [{ meshService: false as const, socketIp: undefined }, null],
  ])('%o → %s', (caller, expected) => {
    expect(throttledAddress(caller)).toBe(expected);
  });
});

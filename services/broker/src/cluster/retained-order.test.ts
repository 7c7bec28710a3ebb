import { describe, expect, it } from 'vitest';
import { RetainedOrder } from './retained-order.ts';

interface Entry {
  revision: number;
  value: string;
}
const at = (revision: number, value = `v${revision}`): Entry => ({ revision, value });

describe('RetainedOrder: the retained watch against this edge’s own writes', () => {
  it('skips the echo of an older own write once a newer one is written (store, then delete)', () => {
    const order = new RetainedOrder<Entry>();
    // Stored (write at 10 in flight), deleted (pending): the echo of 10 comes while writing.
    expect(order.admit('k', at(10), true)).toBe(false);
    // 10 acknowledged, the delete still pending: nothing to apply.
    expect(order.settled('k', 10, true)).toBeUndefined();
    // The delete is acknowledged at 11 before its echo; then the echo comes.
    expect(order.settled('k', 11, false)).toBeUndefined();
    expect(order.admit('k', at(11), false)).toBe(false);
    expect(order.size).toBe(0);
    // Then another edge's write is applied as usual.
    expect(order.admit('k', at(12), false)).toBe(true);
  });

  it('skips entries at or before an acknowledged write until the watch passes it', () => {
    const order = new RetainedOrder<Entry>();
    expect(order.settled('k', 20, false)).toBeUndefined();
    expect(order.admit('k', at(15), false)).toBe(false);
    expect(order.admit('k', at(20), false)).toBe(false);
    expect(order.size).toBe(0);
    expect(order.admit('k', at(21), false)).toBe(true);
  });

  it('applies another edge’s later write held while this edge was writing', () => {
    const order = new RetainedOrder<Entry>();
    // Own echo at 30, then another edge's write at 31, both before the acknowledgement of 30.
    expect(order.admit('k', at(30), true)).toBe(false);
    expect(order.admit('k', at(31, 'other edge'), true)).toBe(false);
    expect(order.settled('k', 30, false)).toEqual(at(31, 'other edge'));
    expect(order.size).toBe(0);
  });

  it('drops a held entry older than this edge’s write, and keeps one newer while another write is pending', () => {
    const order = new RetainedOrder<Entry>();
    expect(order.admit('k', at(40, 'other edge, before'), true)).toBe(false);
    expect(order.settled('k', 41, false)).toBeUndefined();
    expect(order.admit('k', at(41), false)).toBe(false);
    expect(order.size).toBe(0);

    expect(order.admit('j', at(50, 'other edge, after'), true)).toBe(false);
    // Own write acknowledged at 49, a newer own write pending: 50 waits for it.
    expect(order.settled('j', 49, true)).toBeUndefined();
    // The newer own write lands at 51: 50 is superseded.
    expect(order.settled('j', 51, false)).toBeUndefined();
    expect(order.admit('j', at(51), false)).toBe(false);
    expect(order.size).toBe(0);
  });

  it('a write not made (refused) lets what came meanwhile through; one retried later keeps it held', () => {
    const order = new RetainedOrder<Entry>();
    expect(order.admit('k', at(60), true)).toBe(false);
    expect(order.settled('k', undefined, true)).toBeUndefined();
    expect(order.settled('k', undefined, false)).toEqual(at(60));
    expect(order.settled('j', undefined, false)).toBeUndefined();
    expect(order.size).toBe(0);
  });

  it('keys are independent, and a new watch starts from nothing', () => {
    const order = new RetainedOrder<Entry>();
    order.settled('a', 70, false);
    expect(order.admit('b', at(71), false)).toBe(true);
    expect(order.admit('a', at(69), false)).toBe(false);
    order.reset();
    expect(order.size).toBe(0);
    expect(order.admit('a', at(70), false)).toBe(true);
  });
});

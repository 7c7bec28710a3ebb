import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CloseDeadlines } from '../src/core/close-deadlines.ts';

const stream = () => ({ destroyed: 0, destroy() { this.destroyed++; } });

describe('CloseDeadlines: one timer for every closing connection', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] }));
  afterEach(() => vi.useRealTimers());

  it('destroys a stream whose peer has not closed after the grace period, not before', () => {
    const d = new CloseDeadlines(1_000);
    const s = stream();
    d.add(s);
    vi.advanceTimersByTime(999);
    expect(s.destroyed).toBe(0);
    vi.advanceTimersByTime(1);
    expect(s.destroyed).toBe(1);
  });

  it('leaves a cancelled one alone, and keeps each deadline of a later one', () => {
    const d = new CloseDeadlines(1_000);
    const a = stream();
    const b = stream();
    const c = stream();
    const ta = d.add(a);
    vi.advanceTimersByTime(400);
    d.add(b);
    d.cancel(ta);
    vi.advanceTimersByTime(600);
    expect([a.destroyed, b.destroyed]).toEqual([0, 0]);
    vi.advanceTimersByTime(399);
    expect(b.destroyed).toBe(0);
    vi.advanceTimersByTime(1);
    expect(b.destroyed).toBe(1);
    // All settled: a new one starts over with its own full grace period.
    const tc = d.add(c);
    vi.advanceTimersByTime(999);
    d.cancel(tc);
    vi.advanceTimersByTime(10_000);
    expect(c.destroyed).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a wall clock set back does not hold a stream past its grace period', () => {
    const d = new CloseDeadlines(1_000);
    const s = stream();
    d.add(s);
    vi.setSystemTime(Date.now() - 3_600_000);
    vi.advanceTimersByTime(1_000);
    expect(s.destroyed).toBe(1);
  });

  it('a stream that throws on destroy does not keep the others open', () => {
    const d = new CloseDeadlines(1_000);
    const bad = { destroy() { throw new Error('boom'); } };
    const good = stream();
    d.add(bad);
    d.add(good);
    vi.advanceTimersByTime(1_000);
    expect(good.destroyed).toBe(1);
  });
});

import { describe, expect, it } from 'vitest';
import { BufferedAuditSink, type AuditBatchSender, type AuditSinkTimer, type PendingAuditEvent } from './buffered-audit-sink.ts';
import type { AdminAuditEvent } from './audit-sink.ts';

/** A clock and timer queue the test moves by hand: backoff without sleeping. */
function fakeTimer() {
  let now = 1_000;
  let queue: { at: number; fn: () => void; live: boolean }[] = [];
  const timer: AuditSinkTimer = {
    nowMs: () => now,
    schedule(fn, delayMs) {
      const entry = { at: now + delayMs, fn, live: true };
      queue.push(entry);
      return { cancel: () => (entry.live = false) };
    },
  };
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return {
    timer,
    /** Scheduled delays still waiting, relative to now. */
    waiting: () => queue.filter((e) => e.live).map((e) => e.at - now),
    async advance(ms: number) {
      const until = now + ms;
      for (;;) {
        const next = queue.filter((e) => e.live && e.at <= until).sort((a, b) => a.at - b.at)[0];
        if (!next) break;
        now = next.at;
        next.live = false;
        next.fn();
        await settle();
      }
      queue = queue.filter((e) => e.live);
      now = until;
      await settle();
    },
  };
}

/** Identity as the sender sees it: down (UNAVAILABLE) until told otherwise; stores each id once. */
function fakeLog() {
  const stored = new Map<string, PendingAuditEvent>();
  const calls: string[][] = [];
  const state = { up: false, loseAnswer: false, refuse: new Set<string>(), finalCode: undefined as string | undefined };
  const sender: AuditBatchSender = {
    async send(events) {
      calls.push(events.map((e) => e.id));
      if (state.finalCode) throw Object.assign(new Error('no'), { code: state.finalCode });
      if (!state.up) throw Object.assign(new Error('down'), { code: 'UNAVAILABLE' });
      let refused = 0;
      for (const e of events) {
        if (state.refuse.has(e.target)) refused += 1;
        else if (!stored.has(e.id)) stored.set(e.id, e);
      }
      if (state.loseAnswer) {
        state.loseAnswer = false;
        throw Object.assign(new Error('deadline'), { code: 'DEADLINE_EXCEEDED' });
      }
      return { refused };
    },
  };
  return { stored, calls, state, sender };
}

const event = (target: string): AdminAuditEvent => ({ kind: 'token_revoked', actor: { kind: 'master', subject: 'tok_a' }, accountId: 'acc_1', target, requestId: 'req_1' });
let seq = 0;
const newId = () => `evt_${String(++seq).padStart(32, '0')}`;

describe('BufferedAuditSink', () => {
  it('sends a burst as one batch after the flush delay, stamped with the clock at record time', async () => {
    const t = fakeTimer();
    const log = fakeLog();
    log.state.up = true;
    const sink = new BufferedAuditSink({ sender: log.sender, timer: t.timer, flushDelayMs: 50, newId });
    sink.record(event('tok_1'));
    await t.advance(10);
    sink.record(event('tok_2'));
    expect(log.calls).toHaveLength(0);
    await t.advance(40);
    expect(log.calls).toHaveLength(1);
    expect([...log.stored.values()].map((e) => [e.target, e.atMs])).toEqual([['tok_1', 1_000], ['tok_2', 1_010]]);
    expect(sink.stats()).toMatchObject({ pending: 0, sent: 2, dropped: 0 });
  });

  it('retries with exponential backoff while the log is down, then delivers each event once', async () => {
    const t = fakeTimer();
    const log = fakeLog();
    const sink = new BufferedAuditSink({ sender: log.sender, timer: t.timer, flushDelayMs: 0, backoffBaseMs: 100, backoffMaxMs: 350, newId });
    sink.record(event('tok_1'));
    await t.advance(0);
    expect(log.calls).toHaveLength(1);
    expect(t.waiting()).toEqual([100]);
    await t.advance(100);
    expect(t.waiting()).toEqual([200]);
    await t.advance(200);
    expect(t.waiting()).toEqual([350]); // capped
    expect(log.calls).toHaveLength(3);
    expect(log.stored.size).toBe(0);
    expect(sink.stats()).toMatchObject({ pending: 1, sent: 0, dropped: 0, failures: 3 });
    log.state.up = true;
    await t.advance(350);
    expect([...log.stored.values()].map((e) => e.target)).toEqual(['tok_1']);
    expect(new Set(log.calls.flat())).toEqual(new Set([[...log.stored.keys()][0]])); // every try, the same id
    expect(sink.stats()).toMatchObject({ pending: 0, sent: 1, dropped: 0, failures: 0 });
    expect(t.waiting()).toEqual([]);
  });

  it('a batch whose answer was lost is sent again with the same ids (the log keeps one copy)', async () => {
    const t = fakeTimer();
    const log = fakeLog();
    log.state.up = true;
    log.state.loseAnswer = true;
    const sink = new BufferedAuditSink({ sender: log.sender, timer: t.timer, flushDelayMs: 0, backoffBaseMs: 100, newId });
    sink.record(event('tok_1'));
    await t.advance(0);
    await t.advance(100);
    expect(log.calls).toHaveLength(2);
    expect(log.calls[0]).toEqual(log.calls[1]);
    expect(log.stored.size).toBe(1);
  });

  it('drops the oldest past capacity and counts it; keeps order of the rest', async () => {
    const t = fakeTimer();
    const log = fakeLog();
    const sink = new BufferedAuditSink({ sender: log.sender, timer: t.timer, capacity: 3, flushDelayMs: 0, backoffBaseMs: 100, newId });
    for (const target of ['tok_1', 'tok_2', 'tok_3', 'tok_4', 'tok_5']) sink.record(event(target));
    expect(sink.stats()).toMatchObject({ pending: 3, dropped: 2 });
    log.state.up = true;
    await t.advance(0);
    expect([...log.stored.values()].map((e) => e.target)).toEqual(['tok_3', 'tok_4', 'tok_5']);
  });

  it('counts events the log refused, and drops a batch it rejects for good without retrying', async () => {
    const t = fakeTimer();
    const log = fakeLog();
    log.state.up = true;
    log.state.refuse.add('tok_bad');
    const sink = new BufferedAuditSink({ sender: log.sender, timer: t.timer, flushDelayMs: 0, newId });
    sink.record(event('tok_bad'));
    sink.record(event('tok_ok'));
    await t.advance(0);
    expect(sink.stats()).toMatchObject({ sent: 1, dropped: 1 });
    log.state.finalCode = 'UNAUTHENTICATED';
    sink.record(event('tok_3'));
    await t.advance(0);
    expect(sink.stats()).toMatchObject({ pending: 0, sent: 1, dropped: 2 });
    expect(t.waiting()).toEqual([]);
  });

  it('never throws nor waits in record, whatever the sender does', async () => {
    const t = fakeTimer();
    const sender: AuditBatchSender = { send: () => new Promise(() => {}) }; // hangs for ever
    const sink = new BufferedAuditSink({ sender, timer: t.timer, flushDelayMs: 0, newId });
    sink.record(event('tok_1'));
    await t.advance(0);
    expect(() => sink.record(event('tok_2'))).not.toThrow();
    expect(sink.stats().pending).toBe(1);
  });

  it('close sends what waits once, and counts what it could not send as dropped', async () => {
    const t = fakeTimer();
    const log = fakeLog();
    const sink = new BufferedAuditSink({ sender: log.sender, timer: t.timer, flushDelayMs: 1_000, newId });
    sink.record(event('tok_1'));
    sink.record(event('tok_2'));
    await sink.close();
    expect(sink.stats()).toMatchObject({ pending: 0, sent: 0, dropped: 2 });
    sink.record(event('tok_3'));
    expect(sink.stats().dropped).toBe(3);

    const up = fakeLog();
    up.state.up = true;
    const other = new BufferedAuditSink({ sender: up.sender, timer: t.timer, flushDelayMs: 1_000, newId });
    other.record(event('tok_4'));
    await other.close();
    expect([...up.stored.values()].map((e) => e.target)).toEqual(['tok_4']);
  });
});

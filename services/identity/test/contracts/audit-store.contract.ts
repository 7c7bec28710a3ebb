/**
 * The contract every `AuditStore` adapter passes: in-memory, PGlite and Postgres
 * (`../identity-stores.contract.test.ts`). Each case's events have their own ids, accounts and a
 * time range of their own, so a suite shares one (append-only) log without cleanup.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/domain/audit-event.ts';
import type { AuditStore } from '../../src/domain/ports.ts';

export function describeAuditStoreContract(name: string, createStore: () => Promise<AuditStore> | AuditStore, options: { skip?: string | undefined } = {}): void {
  const scope = () => {
    const tag = randomBytes(5).toString('hex');
    // A case's own stretch of time: the suite's other cases are never inside it.
    const t0 = Date.UTC(2030, 0, 1) + randomInt(0, 1_000_000) * 1_000_000;
    let n = 0;
    const event = (over: Partial<AuditEvent> = {}): AuditEvent => ({
      id: `evt_${tag}_${String(++n).padStart(3, '0')}`,
      kind: 'login_ok',
      atMs: t0 + n,
      outcome: 'success',
      actorUserId: `usr_${tag}`,
      actorKind: 'user',
      actorSubject: `usr_${tag}`,
      accountId: `acc_${tag}_a`,
      ip: '10.0.0.1',
      subject: `usr_${tag}`,
      reason: null,
      details: { via: 'password' },
      requestId: `req_${tag}`,
      source: 'identity',
      ...over,
    });
    return { tag, t0, event };
  };
  const ids = (events: AuditEvent[]) => events.map((e) => e.id);

  describe.skipIf(options.skip !== undefined)(`AuditStore contract: ${name}${options.skip ? ` (skipped: ${options.skip})` : ''}`, () => {
    it('appends events and lists them back whole, newest first', async () => {
      const store = await createStore();
      const { tag, event } = scope();
      const [a, b] = [event(), event({ kind: 'lockout', outcome: 'denied', reason: 'LOCKED_OUT', actorUserId: null, actorKind: null, actorSubject: null, ip: null, details: {} })];
      await store.append([a, b]);
      expect(await store.list({ accountIds: [`acc_${tag}_a`], limit: 10 })).toEqual([b, a]);
    });

    it('stores a retried event once', async () => {
      const store = await createStore();
      const { tag, event } = scope();
      const first = event();
      await store.append([first]);
      await store.append([{ ...first, reason: 'RETRIED' }, event()]);
      await store.append([]);
      const listed = await store.list({ accountIds: [`acc_${tag}_a`], limit: 10 });
      expect(listed).toHaveLength(2);
      expect(listed.find((e) => e.id === first.id)).toEqual(first);
    });

    it('filters by accounts, kind and since; every account when none are named', async () => {
      const store = await createStore();
      const { tag, t0, event } = scope();
      const a1 = event({ kind: 'login_ok' });
      const b1 = event({ kind: 'login_failed', outcome: 'failure', accountId: `acc_${tag}_b` });
      const c1 = event({ kind: 'login_ok', accountId: `acc_${tag}_c` });
      const a2 = event({ kind: 'login_failed', outcome: 'failure' });
      const none = event({ kind: 'key_rotated', accountId: null });
      await store.append([a1, b1, c1, a2, none]);
      expect(ids(await store.list({ accountIds: [`acc_${tag}_a`, `acc_${tag}_b`], limit: 10 }))).toEqual(ids([a2, b1, a1]));
      expect(ids(await store.list({ accountIds: [`acc_${tag}_a`, `acc_${tag}_b`], kind: 'login_failed', limit: 10 }))).toEqual(ids([a2, b1]));
      expect(ids(await store.list({ accountIds: [`acc_${tag}_a`, `acc_${tag}_b`, `acc_${tag}_c`], sinceMs: c1.atMs, limit: 10 }))).toEqual(ids([a2, c1]));
      const everywhere = await store.list({ sinceMs: t0, before: { atMs: t0 + 1_000, id: '' }, limit: 100 });
      expect(ids(everywhere)).toEqual(ids([none, a2, c1, b1, a1]));
      expect(ids(await store.list({ accountIds: [], sinceMs: t0, before: { atMs: t0 + 1_000, id: '' }, limit: 100 }))).toEqual(ids(everywhere));
    });

    it('pages by (time, id): events of one millisecond are neither lost nor repeated', async () => {
      const store = await createStore();
      const { tag, t0, event } = scope();
      const events = [event({ atMs: t0 }), event({ atMs: t0 + 5 }), event({ atMs: t0 + 5 }), event({ atMs: t0 + 5 }), event({ atMs: t0 + 9 })];
      await store.append([...events].reverse());
      const pages: string[][] = [];
      let before: { atMs: number; id: string } | undefined;
      for (let i = 0; i < 4; i++) {
        const page = await store.list({ accountIds: [`acc_${tag}_a`], before, limit: 2 });
        pages.push(ids(page));
        if (page.length === 0) break;
        before = { atMs: page.at(-1)!.atMs, id: page.at(-1)!.id };
      }
      const [e0, e1, e2, e3, e4] = ids(events);
      expect(pages).toEqual([[e4, e3], [e2, e1], [e0], []]);
    });
  });
}

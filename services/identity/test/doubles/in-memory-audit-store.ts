import type { AuditEvent } from '../../src/domain/audit-event.ts';
import type { AuditFilter, AuditStore } from '../../src/domain/ports.ts';

const newestFirst = (a: AuditEvent, b: AuditEvent) => b.atMs - a.atMs || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

/** `AuditStore` in a list, for unit tests and the contract suite. */
export class InMemoryAuditStore implements AuditStore {
  readonly #events = new Map<string, AuditEvent>();

  async append(events: readonly AuditEvent[]): Promise<void> {
    for (const e of events) if (!this.#events.has(e.id)) this.#events.set(e.id, { ...e, details: { ...e.details } });
  }

  async list(filter: AuditFilter): Promise<AuditEvent[]> {
    const { accountIds, kind, sinceMs, before } = filter;
    return [...this.#events.values()]
      .filter(
        (e) =>
          (!accountIds?.length || (e.accountId !== null && accountIds.includes(e.accountId))) &&
          (!kind || e.kind === kind) &&
          (sinceMs === undefined || e.atMs >= sinceMs) &&
          (!before || e.atMs < before.atMs || (e.atMs === before.atMs && e.id < before.id)),
      )
      .sort(newestFirst)
      .slice(0, filter.limit)
      .map((e) => ({ ...e, details: { ...e.details } }));
  }
}

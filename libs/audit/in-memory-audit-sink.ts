import type { AdminAuditEvent, AuditSink } from './audit-sink.ts';

/** For unit tests of a service's handlers: keeps what was recorded. */
export class InMemoryAuditSink implements AuditSink {
  readonly events: AdminAuditEvent[] = [];
  record(event: AdminAuditEvent): void {
    this.events.push(structuredClone(event));
  }
}

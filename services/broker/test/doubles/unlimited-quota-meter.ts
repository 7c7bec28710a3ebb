/** TEST / DEV adapter: a QuotaMeter that never says no (but counts, for assertions). */
import type { ConnectionSlot, QuotaMeter, SpendResult } from '../../src/domain/ports.ts';

const OK: SpendResult = { kind: 'ok' };

export class UnlimitedQuotaMeter implements QuotaMeter {
  connections = 0;
  messages = 0;
  bytes = 0;

  async acquireConnection(): Promise<ConnectionSlot> {
    this.connections++;
    return { granted: true };
  }

  releaseConnection(): void {
    this.connections--;
  }

  spendInbound(_account: string, messages: number, bytes: number): SpendResult {
    this.messages += messages;
    this.bytes += bytes;
    return OK;
  }
}

/**
 * TEST / DEV adapter: a QuotaMeter whose answers a test scripts — a connection cap per account
 * and a function deciding each inbound spend.
 */
import type { ConnectionSlot, QuotaMeter, SpendResult } from '../../src/domain/ports.ts';

export interface ScriptedQuotaOptions {
  maxConnectionsPerAccount?: number;
  spend?: (account: string, messages: number, bytes: number) => SpendResult;
}

const OK: SpendResult = { kind: 'ok' };

export class ScriptedQuotaMeter implements QuotaMeter {
  readonly #options: ScriptedQuotaOptions;
  readonly open = new Map<string, number>();

  constructor(options: ScriptedQuotaOptions) {
    this.#options = options;
  }

  async acquireConnection(account: string): Promise<ConnectionSlot> {
    const n = this.open.get(account) ?? 0;
    if (this.#options.maxConnectionsPerAccount !== undefined && n >= this.#options.maxConnectionsPerAccount) {
      return { granted: false, reason: 'quota_exceeded' };
    }
    this.open.set(account, n + 1);
    return { granted: true };
  }

  releaseConnection(account: string): void {
    this.open.set(account, (this.open.get(account) ?? 1) - 1);
  }

  spendInbound(account: string, messages: number, bytes: number): SpendResult {
    return this.#options.spend ? this.#options.spend(account, messages, bytes) : OK;
  }
}

import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from 'pino';

/** What a handler knows about the call it serves. */
export interface CallContext {
  readonly requestId: string;
  /** Absolute deadline in epoch ms, or undefined when the caller set none. */
  readonly deadlineMs: number | undefined;
  /** Aborted when the caller cancels or the deadline passes. */
  readonly signal: AbortSignal;
  /** `service/Method`, for logs and spans. */
  readonly rpc: string;
  readonly peer: string;
  readonly logger: Logger;
  /** Single-valued request metadata (lower-case keys), e.g. `authorization`. */
  header(name: string): string | undefined;
}

/**
 * The call being served, so that clients called from inside a handler propagate the request id
 * and never outlive the caller's deadline (deadline propagation without threading ctx by hand).
 */
export const currentCall = new AsyncLocalStorage<CallContext>();

/** Milliseconds left before the current call's deadline, or undefined outside a call. */
export function remainingMs(now = Date.now()): number | undefined {
  const deadline = currentCall.getStore()?.deadlineMs;
  return deadline === undefined ? undefined : Math.max(0, deadline - now);
}

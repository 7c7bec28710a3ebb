import { ROOT_CONTEXT } from '@opentelemetry/api';
import { callScope } from '#libs/telemetry/call-scope.ts';
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
 * It lives in libs/telemetry's call scope beside the trace context: a call enters one async
 * context frame for both.
 */
export const currentCall = {
  getStore(): CallContext | undefined {
    return callScope.getStore()?.call as CallContext | undefined;
  },
  /** Runs `fn` as if outside any call (its trace context kept): for work that must not inherit the caller's deadline. */
  exit<R>(fn: () => R): R {
    const scope = callScope.getStore();
    return scope ? callScope.run({ otel: scope.otel, call: undefined }, fn) : fn();
  },
  /** Runs `fn` with `call` as the current call, in the scope's trace context. */
  run<R, A extends unknown[]>(call: CallContext, fn: (...args: A) => R, ...args: A): R {
    return callScope.run({ otel: callScope.getStore()?.otel ?? ROOT_CONTEXT, call }, fn, ...args);
  },
};

/** Milliseconds left before the current call's deadline, or undefined outside a call. */
export function remainingMs(now = Date.now()): number | undefined {
  const deadline = currentCall.getStore()?.deadlineMs;
  return deadline === undefined ? undefined : Math.max(0, deadline - now);
}

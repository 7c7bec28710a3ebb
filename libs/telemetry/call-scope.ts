import { AsyncLocalStorage } from 'node:async_hooks';
import { ROOT_CONTEXT, type Context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';

/**
 * What code running for an RPC sees of it: the trace context (OpenTelemetry's active context) and
 * the call itself (libs/rpc's `currentCall`). One AsyncLocalStorage holds both, so a server call
 * enters one async context frame instead of two — each frame is a copy of a Map on every call of
 * the hottest RPCs (authz's Authorize), and every write the answer makes captures it.
 */
export interface CallScope {
  readonly otel: Context;
  /** The RPC being served (libs/rpc's CallContext); undefined outside a server call. */
  readonly call: unknown;
}

export const callScope = new AsyncLocalStorage<CallScope>();

/**
 * OpenTelemetry's context manager on `callScope`: `context.active()` is the scope's trace context,
 * `context.with(ctx, fn)` keeps the scope's call. Binding functions and event emitters is the
 * stock AsyncLocalStorageContextManager's (it goes through `with`).
 */
export class CallScopeContextManager extends AsyncLocalStorageContextManager {
  override active(): Context {
    return callScope.getStore()?.otel ?? ROOT_CONTEXT;
  }

  override with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(context: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    const cb = thisArg == null ? fn : (fn.bind(thisArg) as F);
    return callScope.run({ otel: context, call: callScope.getStore()?.call }, cb, ...args);
  }

  override attach(context: Context): { dispose(): void } {
    const previous = callScope.getStore();
    callScope.enterWith({ otel: context, call: previous?.call });
    let disposed = false;
    return {
      dispose() {
        if (disposed) return;
        disposed = true;
        callScope.enterWith(previous as CallScope);
      },
    };
  }
}

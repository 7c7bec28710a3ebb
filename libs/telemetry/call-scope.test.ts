import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createContextKey, ROOT_CONTEXT } from '@opentelemetry/api';
import { currentCall, type CallContext } from '#libs/rpc/call-context.ts';
import { callScope, CallScopeContextManager } from './call-scope.ts';

const KEY = createContextKey('call-scope-test');
const call = (requestId: string) => ({ requestId }) as unknown as CallContext;

describe('call scope: the trace context and the current call in one async context', () => {
  const manager = new CallScopeContextManager();

  it('keeps the call through a trace context change, and the trace context through leaving the call', async () => {
    const traced = ROOT_CONTEXT.setValue(KEY, 'span-a');
    expect(manager.active()).toBe(ROOT_CONTEXT);
    await callScope.run({ otel: traced, call: call('req_1') }, async () => {
      expect(manager.active().getValue(KEY)).toBe('span-a');
      expect(currentCall.getStore()?.requestId).toBe('req_1');
      await manager.with(traced.setValue(KEY, 'span-b'), async () => {
        await Promise.resolve();
        // A child span's context: the call is still the current one.
        expect(manager.active().getValue(KEY)).toBe('span-b');
        expect(currentCall.getStore()?.requestId).toBe('req_1');
      });
      await currentCall.exit(async () => {
        await Promise.resolve();
        // Work that must not inherit the caller's deadline: no call, the same trace.
        expect(currentCall.getStore()).toBeUndefined();
        expect(manager.active().getValue(KEY)).toBe('span-a');
      });
      // Back in the call after both.
      expect(currentCall.getStore()?.requestId).toBe('req_1');
      expect(manager.active().getValue(KEY)).toBe('span-a');
    });
    expect(currentCall.getStore()).toBeUndefined();
    expect(manager.active()).toBe(ROOT_CONTEXT);
  });

  it('sets a call in the active trace context, binds functions and event emitters, and attaches', () => {
    const traced = ROOT_CONTEXT.setValue(KEY, 'span-c');
    const seen = manager.with(traced, () => currentCall.run(call('req_2'), () => [manager.active().getValue(KEY), currentCall.getStore()?.requestId]));
    expect(seen).toEqual(['span-c', 'req_2']);

    const bound = manager.bind(traced, () => manager.active().getValue(KEY));
    expect(bound()).toBe('span-c');
    const emitter = manager.bind(traced, new EventEmitter());
    let heard: unknown;
    emitter.on('x', () => (heard = manager.active().getValue(KEY)));
    emitter.emit('x');
    expect(heard).toBe('span-c');

    callScope.run({ otel: ROOT_CONTEXT, call: call('req_3') }, () => {
      const token = manager.attach(traced);
      expect(manager.active().getValue(KEY)).toBe('span-c');
      expect(currentCall.getStore()?.requestId).toBe('req_3');
      token.dispose();
      token.dispose();
      expect(manager.active()).toBe(ROOT_CONTEXT);
      expect(currentCall.getStore()?.requestId).toBe('req_3');
    });
  });
});

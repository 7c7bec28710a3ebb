import type { DescService } from '@bufbuild/protobuf';
import { assertWellFormed, CHECKS_REQUEST, type CallContext, type ServiceImpl } from '#libs/rpc/index.ts';
import type { AdminPrincipal } from './admin-guard.ts';

/** An RPC that answers without a credential, and why (the caller proves itself otherwise, or it is public). */
export type OpenRpcs<S extends DescService> = Partial<Record<keyof ServiceImpl<S>, string>>;

/**
 * Authenticate before validating: every RPC of `service` not listed in `open` first resolves the
 * caller's credential (UNAUTHENTICATED when missing or invalid), and only then runs its handler,
 * which validates the request and asks the role table. So a call without a credential learns
 * nothing about which fields a request needs — and an RPC added later is closed by default. The
 * transport-level check (undecodable bytes, text no service may store) runs here too, after the
 * credential, instead of in the server before it.
 */
export function authenticatedFirst<S extends DescService>(
  service: S,
  impl: Partial<ServiceImpl<S>>,
  guard: { authenticate(ctx: CallContext): Promise<AdminPrincipal> },
  open: OpenRpcs<S>,
): Partial<ServiceImpl<S>> {
  const wrapped: Record<string, unknown> = {};
  const table = impl as Record<string, ((request: unknown, ctx: CallContext) => unknown) | undefined>;
  for (const method of service.methods) {
    const fn = table[method.localName];
    if (typeof fn !== 'function') continue;
    const handler = fn.bind(impl);
    const isOpen = method.localName in open;
    if (method.methodKind === 'unary' && isOpen) {
      // No credential to wait for (authz's Authorize, the hottest RPC): no async step of its own.
      wrapped[method.localName] = (request: unknown, ctx: CallContext) => {
        assertWellFormed(method, request);
        return handler(request, ctx);
      };
    } else if (method.methodKind === 'unary' || method.methodKind === 'client_streaming') {
      wrapped[method.localName] = async (request: unknown, ctx: CallContext) => {
        if (!isOpen) await guard.authenticate(ctx);
        if (method.methodKind === 'unary') assertWellFormed(method, request);
        return handler(request, ctx);
      };
    } else {
      wrapped[method.localName] = async function* (request: unknown, ctx: CallContext) {
        if (!isOpen) await guard.authenticate(ctx);
        if (method.methodKind === 'server_streaming') assertWellFormed(method, request);
        yield* handler(request, ctx) as AsyncIterable<unknown>;
      };
    }
    (wrapped[method.localName] as { [CHECKS_REQUEST]?: boolean })[CHECKS_REQUEST] = true;
  }
  return wrapped as Partial<ServiceImpl<S>>;
}

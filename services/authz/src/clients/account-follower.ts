import type { ServiceClient } from '#libs/rpc/index.ts';
import type { Logger } from '#libs/telemetry/index.ts';
import { AccountChangeKind, type IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import type { TokenStore } from '../domain/token-record.ts';

/**
 * Follows identity's WatchAccounts: a suspension (of an account and so of its subtree) becomes an
 * ACCOUNT_SUSPENDED event on authz's own feed for every affected account — which clears every
 * replica's caches through NOTIFY and reaches the brokers. Reconnects with backoff and resumes
 * after the last identity sequence it applied.
 */
export function followAccounts(options: { identity: ServiceClient<typeof IdentityService>; store: TokenStore; logger: Logger; onChange(): void }): { stop(): void } {
  let stopped = false;
  let after = 0n;
  let abort = new AbortController();
  void (async () => {
    let backoffMs = 200;
    while (!stopped) {
      abort = new AbortController();
      try {
        for await (const event of options.identity.watchAccounts({ afterSequence: after }, { signal: abort.signal })) {
          backoffMs = 200;
          after = event.sequence;
          options.onChange();
          if (event.kind === AccountChangeKind.SUSPENDED) {
            const affected = event.affectedAccountIds.length ? event.affectedAccountIds : [event.account?.id ?? ''];
            for (const accountId of affected.filter(Boolean)) {
              await options.store.recordAccountSuspended(accountId, `identity:${event.sequence}:${accountId}`);
            }
          }
        }
      } catch (error) {
        if (stopped) return;
        const code = (error as { code?: string }).code;
        // An identity without the feed yet answers UNIMPLEMENTED: retry slowly rather than spin.
        if (code === 'UNIMPLEMENTED') backoffMs = 30_000;
        else options.logger.debug({ err: error }, 'account feed interrupted; reconnecting');
      }
      if (stopped) return;
      await new Promise((r) => setTimeout(r, backoffMs).unref());
      backoffMs = Math.min(backoffMs * 2, 30_000);
    }
  })();
  return {
    stop() {
      stopped = true;
      abort.abort();
    },
  };
}

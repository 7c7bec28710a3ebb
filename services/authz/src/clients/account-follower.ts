import { followStream, type Sleep } from '#libs/rpc/follow-stream.ts';
import type { ServiceClient } from '#libs/rpc/index.ts';
import type { Logger } from '#libs/telemetry/index.ts';
import { AccountChangeKind, type IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import type { TokenStore } from '../domain/token-record.ts';

/**
 * Follows identity's WatchAccounts: a suspension (of an account and so of its subtree) becomes an
 * ACCOUNT_SUSPENDED event on authz's own feed for every affected account — which clears every
 * replica's caches through NOTIFY and reaches the brokers. Reconnects with backoff
 * (libs/rpc/follow-stream.ts) and resumes after the last identity sequence it applied.
 */
export function followAccounts(options: { identity: ServiceClient<typeof IdentityService>; store: TokenStore; logger: Logger; onChange(): void; sleep?: Sleep }): { stop(): void } {
  let after = 0n;
  const follower = followStream({
    open: (signal) => options.identity.watchAccounts({ afterSequence: after }, { signal }),
    async onEvent(event) {
      after = event.sequence;
      options.onChange();
      if (event.kind === AccountChangeKind.SUSPENDED) {
        const affected = event.affectedAccountIds.length ? event.affectedAccountIds : [event.account?.id ?? ''];
        for (const accountId of affected.filter(Boolean)) {
          await options.store.recordAccountSuspended(accountId, `identity:${event.sequence}:${accountId}`);
        }
      }
    },
    // An identity without the feed yet answers UNIMPLEMENTED: retry slowly rather than spin.
    backoffAfter: (error) => ((error as { code?: string }).code === 'UNIMPLEMENTED' ? 30_000 : undefined),
    onInterrupted: (error) => options.logger.debug({ err: error }, 'account feed interrupted; reconnecting'),
    ...(options.sleep ? { sleep: options.sleep } : {}),
  });
  return { stop: follower.stop };
}

import type { ServiceClient } from '#libs/rpc/index.ts';
import type { Logger } from '#libs/telemetry/index.ts';
import { followStream, type Sleep } from '#libs/rpc/follow-stream.ts';
import { AuthzService, InvalidationKind } from '#gen/tollgate/authz/v1/authz_pb.js';

export interface InvalidationTarget {
  /** A token was revoked or changed: drop its cached decisions and disconnect its clients. */
  onToken(tokenId: string, kind: 'revoked' | 'expired' | 'updated'): void;
  onAccountSuspended(accountId: string): void;
  /** An OAuth grant was revoked: drop its cached decisions and disconnect the clients using its access tokens. */
  onGrant(grantId: string): void;
  /** We missed events: drop every cached decision. */
  onReset(): void;
}

/**
 * Follows authz's WatchInvalidations for as long as the broker runs (libs/rpc/follow-stream.ts:
 * reopened with backoff) and resumes after the last sequence it applied, so a blip loses no
 * revocation (authz sends RESET if the gap is older than its retained feed).
 */
export function followInvalidations(options: { authz: ServiceClient<typeof AuthzService>; target: InvalidationTarget; logger: Logger; sleep?: Sleep }): { stop(): void; connected(): boolean } {
  let live = false;
  let lastSequence = 0n;
  const { target } = options;
  const follower = followStream({
    async *open(signal) {
      try {
        for await (const event of options.authz.watchInvalidations({ afterSequence: lastSequence }, { signal })) {
          live = true;
          yield event;
        }
      } finally {
        live = false;
      }
    },
    onEvent(event) {
      if (event.sequence > lastSequence) lastSequence = event.sequence;
      switch (event.kind) {
        case InvalidationKind.TOKEN_REVOKED:
          target.onToken(event.tokenId, 'revoked');
          break;
        case InvalidationKind.TOKEN_EXPIRED:
          target.onToken(event.tokenId, 'expired');
          break;
        case InvalidationKind.TOKEN_UPDATED:
          target.onToken(event.tokenId, 'updated');
          break;
        case InvalidationKind.ACCOUNT_SUSPENDED:
          target.onAccountSuspended(event.accountId);
          break;
        case InvalidationKind.GRANT_REVOKED:
          if (event.grantId) target.onGrant(event.grantId);
          break;
        case InvalidationKind.RESET:
          target.onReset();
          break;
      }
    },
    initialBackoffMs: 100,
    maxBackoffMs: 5_000,
    onInterrupted: (error) => options.logger.warn({ err: error }, 'invalidation feed interrupted; reconnecting'),
    ...(options.sleep ? { sleep: options.sleep } : {}),
  });
  return { stop: () => follower.stop(), connected: () => live };
}

import type { ServiceClient } from '#libs/rpc/index.ts';
import type { Logger } from '#libs/telemetry/index.ts';
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
 * Follows authz's WatchInvalidations for as long as the broker runs: reconnects with backoff and
 * resumes after the last sequence it applied, so a blip loses no revocation (authz sends RESET if
 * the gap is older than its retained feed).
 */
export function followInvalidations(options: { authz: ServiceClient<typeof AuthzService>; target: InvalidationTarget; logger: Logger }): { stop(): void; connected(): boolean } {
  let stopped = false;
  let live = false;
  let lastSequence = 0n;
  let abort = new AbortController();

  async function loop(): Promise<void> {
    let backoffMs = 100;
    while (!stopped) {
      abort = new AbortController();
      try {
        for await (const event of options.authz.watchInvalidations({ afterSequence: lastSequence }, { signal: abort.signal })) {
          live = true;
          backoffMs = 100;
          if (event.sequence > lastSequence) lastSequence = event.sequence;
          switch (event.kind) {
            case InvalidationKind.TOKEN_REVOKED:
              options.target.onToken(event.tokenId, 'revoked');
              break;
            case InvalidationKind.TOKEN_EXPIRED:
              options.target.onToken(event.tokenId, 'expired');
              break;
            case InvalidationKind.TOKEN_UPDATED:
              options.target.onToken(event.tokenId, 'updated');
              break;
            case InvalidationKind.ACCOUNT_SUSPENDED:
              options.target.onAccountSuspended(event.accountId);
              break;
            case InvalidationKind.GRANT_REVOKED:
              if (event.grantId) options.target.onGrant(event.grantId);
              break;
            case InvalidationKind.RESET:
              options.target.onReset();
              break;
          }
        }
      } catch (error) {
        if (stopped) return;
        options.logger.warn({ err: error }, 'invalidation feed interrupted; reconnecting');
      }
      live = false;
      if (stopped) return;
      await new Promise((r) => setTimeout(r, backoffMs).unref());
      backoffMs = Math.min(backoffMs * 2, 5_000);
    }
  }

  void loop();
  return {
    stop() {
      stopped = true;
      abort.abort();
    },
    connected: () => live,
  };
}

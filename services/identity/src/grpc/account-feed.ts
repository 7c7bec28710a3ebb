import { EventEmitter, on } from 'node:events';
import { requireService } from '#libs/admin-auth/admin-guard.ts';
import type { Database } from '#libs/db/index.ts';
import type { ServiceImpl } from '#libs/rpc/index.ts';
import { AccountChangeKind, type IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import type { IdentityStore } from '../domain/ports.ts';
import { accountToProto } from './proto-mapping.ts';

const kinds: Record<string, AccountChangeKind> = {
  created: AccountChangeKind.CREATED,
  renamed: AccountChangeKind.RENAMED,
  suspended: AccountChangeKind.SUSPENDED,
  resumed: AccountChangeKind.RESUMED,
  policy_changed: AccountChangeKind.POLICY_CHANGED,
};

/**
 * WatchAccounts: replays `identity.account_changes` after the caller's sequence, then follows new
 * rows as their NOTIFY arrives (one LISTEN per identity process, fanned out to every stream).
 */
export function createAccountFeed(deps: { database: Database; store: IdentityStore; secretKey: Uint8Array }) {
  const wake = new EventEmitter();
  wake.setMaxListeners(0);
  let unlisten: (() => Promise<void>) | undefined;
  const stopping = new AbortController();
  const handlers: Partial<ServiceImpl<typeof IdentityService>> = {
    async *watchAccounts(req, ctx) {
      requireService(deps.secretKey, ctx);
      let cursor = req.afterSequence > 0n ? Number(req.afterSequence) : await deps.store.latestAccountChange();
      const notified = on(wake, 'change', { signal: AbortSignal.any([ctx.signal, stopping.signal]) });
      try {
        for (;;) {
          for (const change of await deps.store.accountChangesSince(cursor, 1_000)) {
            cursor = change.sequence;
            const path = await deps.store.accountPath(change.accountId);
            const account = path.at(-1);
            yield {
              sequence: BigInt(change.sequence),
              kind: kinds[change.kind] ?? AccountChangeKind.UNSPECIFIED,
              affectedAccountIds: change.affected,
              // The account as it is now (a later change may already be applied), with its effective state.
              ...(account ? { account: accountToProto(account, path.some((a) => a.state === 'suspended')) } : {}),
            };
          }
          const next = await notified.next();
          if (next.done) return;
        }
      } catch (error) {
        if ((error as { name?: string }).name === 'AbortError') return;
        throw error;
      }
    },
  };
  return {
    handlers,
    async start() {
      unlisten = await deps.database.listen('tollgate_identity_accounts', () => wake.emit('change'));
    },
    async stop() {
      stopping.abort();
      await unlisten?.().catch(() => {});
    },
  };
}

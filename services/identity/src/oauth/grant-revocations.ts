import { createHash } from 'node:crypto';
import { asc, gt, inArray, lte, sql } from 'drizzle-orm';
import { pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { Db } from '#libs/db/index.ts';
import type { ServiceClient } from '#libs/rpc/index.ts';
import type { Logger } from '#libs/telemetry/index.ts';
import type { AuthzService } from '#gen/tollgate/authz/v1/authz_pb.js';
import type { Clock } from '../domain/ports.ts';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/**
 * The `gid` claim of a Tollgate access token: `grt_` + 20 Crockford base32 characters of the
 * SHA-256 of oidc-provider's grant id, so the library's own handle never leaves identity.
 */
export function grantRef(grantId: string): string {
  const digest = createHash('sha256').update(`tollgate-oauth-grant\u0000${grantId}`, 'utf8').digest();
  let id = 'grt_';
  for (let i = 0; i < 20; i++) id += ALPHABET[digest[i]! & 31];
  return id;
}

const pending = pgSchema('identity').table('oauth_revoked_grants', {
  grantRef: text('grant_ref').primaryKey(),
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
});

/** Grants per RevokeGrants call (authz's limit). */
const BATCH = 500;

/**
 * Ended OAuth grants on their way to authz, which refuses their access tokens and tells the
 * brokers (GRANT_REVOKED) to disconnect the clients using them. The revocation is written here
 * first and delivered at once; one authz could not take is retried (`retryMs`) until it does, so
 * no ended grant is forgotten while its access tokens live.
 */
export function createGrantRevocations(deps: { db: Db; clock: Clock; logger: Logger; authz: ServiceClient<typeof AuthzService>; retryMs?: number }) {
  // Until start() says otherwise, a day: longer than any access token lives.
  let accessTokenTtlMs = 24 * 3_600_000;
  let delivering: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;

  async function deliverOnce(): Promise<void> {
    const now = new Date(deps.clock.nowMs());
    // Their access tokens have expired: nothing is left for authz to refuse.
    await deps.db.delete(pending).where(lte(pending.expiresAt, now));
    for (;;) {
      const rows = await deps.db.select().from(pending).where(gt(pending.expiresAt, now)).orderBy(asc(pending.grantRef)).limit(BATCH);
      if (rows.length === 0) return;
      const expiresAtMs = Math.max(...rows.map((r) => r.expiresAt.getTime()));
      await deps.authz.revokeGrants({ grantIds: rows.map((r) => r.grantRef), expiresAt: timestampFromMs(expiresAtMs) });
      await deps.db.delete(pending).where(inArray(pending.grantRef, rows.map((r) => r.grantRef)));
      if (rows.length < BATCH) return;
    }
  }

  /** Delivers what is pending; never throws (what authz did not take stays for the next try). */
  function deliver(): Promise<void> {
    if (delivering) {
      again = true;
      return delivering;
    }
    delivering = (async () => {
      try {
        do {
          again = false;
          await deliverOnce();
        } while (again);
      } catch (error) {
        deps.logger.warn({ err: error }, 'OAuth grant revocations not yet delivered to authz; retrying');
      } finally {
        delivering = undefined;
      }
    })();
    return delivering;
  }

  return {
    /** oidc-provider grant ids (not refs) that ended: recorded, then delivered before this returns when authz answers. */
    async revoke(grantIds: readonly string[]): Promise<void> {
      if (grantIds.length === 0) return;
      const expiresAt = new Date(deps.clock.nowMs() + accessTokenTtlMs);
      const refs = [...new Set(grantIds.map(grantRef))];
      await deps.db
        .insert(pending)
        .values(refs.map((ref) => ({ grantRef: ref, expiresAt })))
        .onConflictDoUpdate({ target: pending.grantRef, set: { expiresAt: sql`greatest(${pending.expiresAt}, excluded.expires_at)` } });
      await deliver();
    },
    deliver,
    start(input: { accessTokenTtlMs: number }) {
      // The longest an access token issued from the grant just before it ended still lives (+ a minute of clock skew).
      accessTokenTtlMs = input.accessTokenTtlMs + 60_000;
      timer = setInterval(() => void deliver(), deps.retryMs ?? 5_000);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
    },
  };
}

export type GrantRevocations = ReturnType<typeof createGrantRevocations>;

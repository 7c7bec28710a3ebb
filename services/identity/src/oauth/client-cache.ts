import { LRUCache } from 'lru-cache';
import type { Database } from '#libs/db/index.ts';
import type { OAuthClient } from '../domain/oauth-client.ts';
import type { Clock } from '../domain/ports.ts';

/** NOTIFY channel of `identity.oauth_clients`: the id of a client just updated, disabled, re-keyed or deleted. */
export const OAUTH_CLIENTS_CHANNEL = 'tollgate_identity_oauth_clients';

/** How long a client read stays usable when no NOTIFY could say it changed (the LISTEN connection lost). */
export const CLIENT_CACHE_TTL_MS = 5_000;

/**
 * Registered OAuth clients as oidc-provider reads them on every request (its client lookup, the
 * token's claims, introspection's policy): one database read per client per `ttlMs` instead of
 * two per grant. Correctness does not rest on the TTL:
 * - this process drops an entry the moment its own write commits (`invalidate`, called by the store);
 * - other identity replicas drop it when the NOTIFY sent in the same transaction arrives;
 * - a read that started before an invalidation is answered but never stored, so a disabled client
 *   or an old secret cannot come back into the cache;
 * - nothing is stored until LISTEN is up, and the whole cache is dropped when it (re)connects, as
 *   changes may have gone unheard; only while the LISTEN connection is down does the TTL bound it.
 * Unknown ids are not cached (random ids would only evict real clients).
 */
export function createClientCache(deps: { load(id: string): Promise<OAuthClient | undefined>; clock: Clock; ttlMs?: number; max?: number }) {
  const cache = new LRUCache<string, OAuthClient>({
    max: deps.max ?? 10_000,
    ttl: deps.ttlMs ?? CLIENT_CACHE_TTL_MS,
    ttlAutopurge: false,
    ttlResolution: 0,
    perf: { now: () => deps.clock.nowMs() },
  });
  const loading = new Map<string, Promise<OAuthClient | undefined>>();
  let generation = 0;
  let listening = false;
  const invalidated = new Set<(id: string | undefined) => void>();

  function get(id: string): Promise<OAuthClient | undefined> {
    const hit = cache.get(id);
    if (hit) return Promise.resolve(hit);
    // Concurrent requests for one client share one read.
    const shared = loading.get(id);
    if (shared) return shared;
    const startedAt = generation;
    const read: Promise<OAuthClient | undefined> = deps.load(id).then(
      (client) => {
        if (loading.get(id) === read) loading.delete(id);
        if (!client) return undefined;
        const frozen = Object.freeze(client);
        if (listening && startedAt === generation) cache.set(id, frozen);
        return frozen;
      },
      (error: unknown) => {
        if (loading.get(id) === read) loading.delete(id);
        throw error;
      },
    );
    loading.set(id, read);
    return read;
  }

  function invalidate(id: string): void {
    generation++;
    cache.delete(id);
    loading.delete(id);
    for (const listener of invalidated) listener(id);
  }

  function clear(): void {
    generation++;
    cache.clear();
    loading.clear();
    for (const listener of invalidated) listener(undefined);
  }

  return {
    get,
    invalidate,
    /** Follows other replicas' changes; answers the function that stops. */
    async listen(database: Pick<Database, 'listen'>): Promise<() => Promise<void>> {
      const stop = await database.listen(OAUTH_CLIENTS_CHANNEL, invalidate, () => {
        clear();
        listening = true;
      });
      return async () => {
        listening = false;
        clear();
        await stop();
      };
    },
    /** Told of every invalidation (an id, or undefined for all): tests wait on it instead of the clock. */
    onInvalidated(listener: (id: string | undefined) => void): () => void {
      invalidated.add(listener);
      return () => invalidated.delete(listener);
    },
    get size() {
      return cache.size;
    },
  };
}

export type ClientCache = ReturnType<typeof createClientCache>;

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { migrate, type Database } from '#libs/db/index.ts';
import { openTestDatabase, testDatabaseKind } from '../../../test/harness/database.ts';
import { identityMigrations } from '../src/app.ts';
import type { OAuthClient } from '../src/domain/oauth-client.ts';
import { createClientCache, OAUTH_CLIENTS_CHANNEL } from '../src/oauth/client-cache.ts';
import { PostgresIdentityStore } from '../src/store/postgres-identity-store.ts';
import { PostgresOAuthClientStore } from '../src/store/postgres-oauth-store.ts';

/**
 * The OAuth client cache on the real schema, as two identity replicas use it: each replica's own
 * writes drop its entry at once, the other replica's by the NOTIFY committed with the write. The
 * clock is injected (the TTL is crossed without sleeping).
 */
describe('OAuth client cache', () => {
  // Replica A and replica B: two connection pools on one Postgres database (one handle on PGlite,
  // where LISTEN/NOTIFY is in-process — B still learns of A's write only through the NOTIFY).
  let databaseA: Database;
  let databaseB: Database;
  let nowMs = Date.UTC(2030, 0, 1);
  const clock = { nowMs: () => nowMs };
  const accountId = `acc_${randomBytes(8).toString('hex')}`;

  beforeAll(async () => {
    databaseA = await openTestDatabase();
    await migrate(databaseA, identityMigrations);
    await new PostgresIdentityStore(databaseA.db).createAccount({ id: accountId, name: 'client cache test', parentId: undefined, depth: 1 });
    databaseB = testDatabaseKind() === 'postgres' ? await openTestDatabase() : databaseA;
  });
  afterAll(async () => {
    if (databaseB !== databaseA) await databaseB?.close();
    await databaseA?.close();
  });

  function newClient(): OAuthClient {
    return {
      id: `cli_${randomBytes(10).toString('hex')}`,
      accountId,
      name: 'cached',
      type: 'service',
      secretHash: randomBytes(32).toString('hex'),
      redirectUris: [],
      postLogoutRedirectUris: [],
      scopes: ['tollgate'],
      aclRules: null,
      aclTokenId: null,
      firstParty: false,
      idTokenAlg: 'EdDSA',
      disabled: false,
      createdAtMs: nowMs,
      updatedAtMs: nowMs,
    };
  }

  /** A replica: its store (telling its cache of its own writes), its cache, and a count of database reads. */
  async function replica(database: Database, options: { listen?: boolean; ttlMs?: number } = {}) {
    const reads: string[] = [];
    const store: PostgresOAuthClientStore = new PostgresOAuthClientStore(database.db, { changed: (id) => cache.invalidate(id), channel: OAUTH_CLIENTS_CHANNEL });
    const cache = createClientCache({
      load: (id) => {
        reads.push(id);
        return store.get(id);
      },
      clock,
      ...(options.ttlMs ? { ttlMs: options.ttlMs } : {}),
    });
    const stop = options.listen === false ? undefined : await cache.listen(database);
    return { store, cache, reads, stop: async () => stop?.() };
  }

  it('reads a client once while it is fresh, again once the TTL has passed; unknown ids are not kept', async () => {
    const a = await replica(databaseA, { ttlMs: 5_000 });
    const client = newClient();
    await a.store.insert(client);
    expect(await a.cache.get(client.id)).toMatchObject({ id: client.id, secretHash: client.secretHash });
    expect(await a.cache.get(client.id)).toMatchObject({ id: client.id });
    expect(a.reads).toEqual([client.id]);
    nowMs += 5_001;
    expect(await a.cache.get(client.id)).toMatchObject({ id: client.id });
    expect(a.reads).toEqual([client.id, client.id]);
    expect(await a.cache.get('cli_unknown')).toBeUndefined();
    expect(await a.cache.get('cli_unknown')).toBeUndefined();
    expect(a.reads.filter((id) => id === 'cli_unknown')).toHaveLength(2);
    await a.stop();
  });

  it('shares one read among concurrent requests for a client', async () => {
    const a = await replica(databaseA);
    const client = newClient();
    await a.store.insert(client);
    const answers = await Promise.all([a.cache.get(client.id), a.cache.get(client.id), a.cache.get(client.id)]);
    expect(answers.map((c) => c?.id)).toEqual([client.id, client.id, client.id]);
    expect(a.reads).toEqual([client.id]);
    await a.stop();
  });

  it("drops a client at once when this replica disables it, rotates its secret or deletes it", async () => {
    const a = await replica(databaseA);
    const client = newClient();
    await a.store.insert(client);
    expect((await a.cache.get(client.id))?.disabled).toBe(false);
    await a.store.update(client.id, { disabled: true, updatedAtMs: nowMs });
    expect((await a.cache.get(client.id))?.disabled).toBe(true);
    const newHash = randomBytes(32).toString('hex');
    await a.store.update(client.id, { secretHash: newHash, updatedAtMs: nowMs });
    expect((await a.cache.get(client.id))?.secretHash).toBe(newHash);
    await a.store.delete(client.id);
    expect(await a.cache.get(client.id)).toBeUndefined();
    expect(a.reads).toEqual([client.id, client.id, client.id, client.id]);
    await a.stop();
  });

  it('never keeps what a read started before an invalidation brought back', async () => {
    const client = newClient();
    let release!: (c: OAuthClient) => void;
    let loads = 0;
    const cache = createClientCache({
      load: () => {
        loads++;
        return loads === 1 ? new Promise<OAuthClient>((resolve) => (release = resolve)) : Promise.resolve({ ...client, disabled: true });
      },
      clock,
    });
    const stop = await cache.listen(databaseA);
    const stale = cache.get(client.id);
    cache.invalidate(client.id); // the client was disabled while the first read was on its way
    release(client);
    expect((await stale)?.disabled).toBe(false); // the request that started before the change is answered…
    expect((await cache.get(client.id))?.disabled).toBe(true); // …but what it read is not kept
    expect(loads).toBe(2);
    await stop();
  });

  it('keeps nothing until it listens for other replicas’ changes', async () => {
    const a = await replica(databaseA, { listen: false });
    const client = newClient();
    await a.store.insert(client);
    await a.cache.get(client.id);
    await a.cache.get(client.id);
    expect(a.reads).toEqual([client.id, client.id]);
  });

  it("another replica's disable, secret rotation and delete reach this replica's cache through NOTIFY", async () => {
    const a = await replica(databaseA);
    const b = await replica(databaseB);
    const client = newClient();
    await a.store.insert(client);
    const heardByB = (id: string) =>
      new Promise<void>((resolve) => {
        const off = b.cache.onInvalidated((changed) => {
          if (changed === id) {
            off();
            resolve();
          }
        });
      });
    expect(await b.cache.get(client.id)).toMatchObject({ secretHash: client.secretHash, disabled: false });
    expect(await b.cache.get(client.id)).toMatchObject({ secretHash: client.secretHash });
    expect(b.reads).toEqual([client.id]);

    let heard = heardByB(client.id);
    const newHash = randomBytes(32).toString('hex');
    await a.store.update(client.id, { secretHash: newHash, updatedAtMs: nowMs });
    await heard;
    expect((await b.cache.get(client.id))?.secretHash).toBe(newHash);

    heard = heardByB(client.id);
    await a.store.update(client.id, { disabled: true, updatedAtMs: nowMs });
    await heard;
    expect((await b.cache.get(client.id))?.disabled).toBe(true);

    heard = heardByB(client.id);
    await a.store.delete(client.id);
    await heard;
    expect(await b.cache.get(client.id)).toBeUndefined();
    expect(b.reads).toEqual([client.id, client.id, client.id, client.id]);
    await a.stop();
    await b.stop();
  });
});

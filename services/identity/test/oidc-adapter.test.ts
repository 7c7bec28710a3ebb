import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { migrate, type Database } from '#libs/db/index.ts';
import { openTestDatabase } from '../../../test/harness/database.ts';
import { identityMigrations } from '../src/app.ts';
import { PostgresOidcAdapter, PostgresOidcPayloads } from '../src/store/postgres-oauth-store.ts';

/** oidc-provider's storage port on the real schema, with an injected clock (no sleeping through expiry). */
describe('PostgresOidcAdapter', () => {
  let database: Database;
  let nowMs = Date.UTC(2030, 0, 1);
  const clock = { nowMs: () => nowMs };
  const id = () => randomUUID();

  beforeAll(async () => {
    database = await openTestDatabase();
    await migrate(database, identityMigrations);
  });
  afterAll(async () => {
    await database?.close();
  });

  it('stores, finds, and hides a payload once it expires (enforced on read, before any purge)', async () => {
    const adapter = new PostgresOidcAdapter(database.db, 'AuthorizationCode', clock);
    const key = id();
    await adapter.upsert(key, { jti: key, kind: 'AuthorizationCode', clientId: 'cli_x' }, 60);
    expect(await adapter.find(key)).toMatchObject({ jti: key, clientId: 'cli_x' });
    nowMs += 59_000;
    expect(await adapter.find(key)).toBeDefined();
    nowMs += 2_000;
    expect(await adapter.find(key)).toBeUndefined();
  });

  it('keeps models apart: the same id in another model is another row', async () => {
    const key = id();
    await new PostgresOidcAdapter(database.db, 'Session', clock).upsert(key, { which: 'session' }, 60);
    expect(await new PostgresOidcAdapter(database.db, 'Interaction', clock).find(key)).toBeUndefined();
    expect(await new PostgresOidcAdapter(database.db, 'Session', clock).find(key)).toEqual({ which: 'session' });
  });

  it('marks a consumed code; upsert keeps the consumption', async () => {
    const adapter = new PostgresOidcAdapter(database.db, 'AuthorizationCode', clock);
    const key = id();
    await adapter.upsert(key, { jti: key }, 60);
    expect((await adapter.find(key))?.consumed).toBeUndefined();
    await adapter.consume(key);
    expect((await adapter.find(key))?.consumed).toBe(Math.floor(nowMs / 1000));
  });

  it('finds sessions by uid and device codes by user code', async () => {
    const sessions = new PostgresOidcAdapter(database.db, 'Session', clock);
    const devices = new PostgresOidcAdapter(database.db, 'DeviceCode', clock);
    const uid = id();
    const userCode = `UC${id().slice(0, 8)}`;
    await sessions.upsert('s1', { uid, accountId: 'usr_a' }, 600);
    await devices.upsert('d1', { userCode, clientId: 'cli_d' }, 600);
    expect(await sessions.findByUid(uid)).toMatchObject({ accountId: 'usr_a' });
    expect(await devices.findByUserCode(userCode)).toMatchObject({ clientId: 'cli_d' });
    expect(await devices.findByUserCode('nope')).toBeUndefined();
    await sessions.destroy('s1');
    expect(await sessions.findByUid(uid)).toBeUndefined();
  });

  it('revokes every artefact of a grant across models (refresh-token reuse ends the family)', async () => {
    const grantId = id();
    const refresh = new PostgresOidcAdapter(database.db, 'RefreshToken', clock);
    const access = new PostgresOidcAdapter(database.db, 'AccessToken', clock);
    const [r, a, other] = [id(), id(), id()];
    await refresh.upsert(r, { grantId }, 600);
    await access.upsert(a, { grantId }, 600);
    await access.upsert(other, { grantId: id() }, 600);
    await refresh.revokeByGrantId(grantId);
    expect(await refresh.find(r)).toBeUndefined();
    expect(await access.find(a)).toBeUndefined();
    expect(await access.find(other)).toBeDefined();
  });

  it('purges expired rows and everything a client holds', async () => {
    const adapter = new PostgresOidcAdapter(database.db, 'AccessToken', clock);
    const payloads = new PostgresOidcPayloads(database.db);
    const [old, live, clients] = [id(), id(), id()];
    await adapter.upsert(old, { clientId: 'cli_old' }, 1);
    await adapter.upsert(live, { clientId: 'cli_live' }, 3_600);
    await adapter.upsert(clients, { clientId: 'cli_gone' }, 3_600);
    nowMs += 5_000;
    expect(await payloads.purgeExpired(nowMs)).toBeGreaterThanOrEqual(1);
    await payloads.revokeClient('cli_gone');
    expect(await adapter.find(live)).toBeDefined();
    expect(await adapter.find(clients)).toBeUndefined();
  });
});

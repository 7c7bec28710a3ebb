import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { createRpcClient } from '#libs/rpc/index.ts';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { AuthzService, InvalidationKind, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import type { Database } from '#libs/db/index.ts';
import { startTestMesh, type TestMesh } from '../../../test/harness/mesh.ts';
import { openTestDatabase } from '../../../test/harness/database.ts';

const url = process.env.TOLLGATE_TEST_DATABASE_URL;
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

// Killing every server connection is what a Postgres restart looks like to a client; only
// meaningful against a real server (DATABASE_URL), so it runs there and says so elsewhere.
describe.runIf(url)('authz survives its database connections dropping (runs when DATABASE_URL is set)', () => {
  let mesh: TestMesh;
  let database: Database;
  // Only this mesh's connections are killed, by their application_name: other test files share the server.
  const applicationName = `tollgate-restart-${process.pid}`;
  beforeAll(async () => {
    database = await openTestDatabase({ applicationName });
    mesh = await startTestMesh({ database });
  });
  afterAll(async () => {
    await mesh?.stop();
    await database?.close();
  });

  it('serves cached decisions, reconnects for writes, and the feed catches up', async () => {
    const authz = createRpcClient(AuthzService, mesh.address('authz'));
    const t = await mesh.createTenant('restart');
    const tok = await authz.createToken({ accountId: t.accountId, kind: TokenKind.STANDARD }, bearer(t.masterToken));
    expect((await authz.authenticate({ bearer: tok.secret })).allowed).toBe(true);
    const feed = authz.watchInvalidations({}, bearer(mintServiceCredential(mesh.secretKey, 'broker')))[Symbol.asyncIterator]();

    const admin = postgres(url!, { max: 1, onnotice: () => {} });
    const killed = await admin`select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where application_name = ${applicationName}`;
    await admin.end();
    expect(killed[0]!.n).toBeGreaterThan(0);

    // Cached: answered without the database.
    expect((await authz.authenticate({ bearer: tok.secret })).allowed).toBe(true);
    // Writes reconnect (postgres.js reopens its pool).
    let revoked = false;
    for (let attempt = 0; attempt < 20 && !revoked; attempt++) {
      revoked = await authz.revokeToken({ tokenId: tok.token!.id }, bearer(t.masterToken)).then(
        () => true,
        () => new Promise<boolean>((r) => setTimeout(() => r(false), 100)),
      );
    }
    expect(revoked).toBe(true);
    // The LISTEN connection was killed too; the feed still delivers (re-LISTEN or the poll).
    let event = (await feed.next()).value!;
    while (event.tokenId !== tok.token!.id) event = (await feed.next()).value!;
    expect(event.kind).toBe(InvalidationKind.TOKEN_REVOKED);
    await feed.return?.(undefined);
    expect((await authz.authenticate({ bearer: tok.secret })).reason).toBe('TOKEN_REVOKED');
    authz.close();
  });
});

/**
 * Identity's session stores (refresh tokens, signing keys, login throttle, audit log): each port's
 * contract against its in-memory double, PGlite and Postgres.
 */
import { storeBackends } from '../../../test/harness/store-backends.ts';
import { identityMigrations } from '../src/app.ts';
import { PostgresAuditStore, PostgresRefreshTokenStore, PostgresSigningKeyStore, PostgresThrottleStore } from '../src/store/postgres-session-store.ts';
import { describeAuditStoreContract } from './contracts/audit-store.contract.ts';
import { describeRefreshTokenStoreContract } from './contracts/refresh-token-store.contract.ts';
import { describeSigningKeyStoreContract } from './contracts/signing-key-store.contract.ts';
import { describeThrottleStoreContract } from './contracts/throttle-store.contract.ts';
import { InMemoryAuditStore } from './doubles/in-memory-audit-store.ts';
import { InMemoryRefreshTokenStore } from './doubles/in-memory-refresh-token-store.ts';
import { InMemorySigningKeyStore } from './doubles/in-memory-signing-key-store.ts';
import { InMemoryThrottleStore } from './doubles/in-memory-throttle-store.ts';

describeRefreshTokenStoreContract('in-memory', () => new InMemoryRefreshTokenStore());
describeSigningKeyStoreContract('in-memory', () => new InMemorySigningKeyStore());
describeThrottleStoreContract('in-memory', () => new InMemoryThrottleStore());
describeAuditStoreContract('in-memory', () => new InMemoryAuditStore());

// The refresh-token contract makes families for made-up user ids: the suite's own database (never
// the run's shared one) has that foreign key relaxed.
const relaxUserForeignKey = 'alter table identity.refresh_families drop constraint if exists refresh_families_user_id_fkey;';
for (const backend of storeBackends([identityMigrations], { afterMigrate: (database) => database.execScript(relaxUserForeignKey) })) {
  const db = async () => (await backend.database()).db;
  const options = { skip: backend.skip };
  describeRefreshTokenStoreContract(backend.name, async () => new PostgresRefreshTokenStore(await db()), options);
  describeSigningKeyStoreContract(backend.name, async () => new PostgresSigningKeyStore(await db()), options);
  describeThrottleStoreContract(backend.name, async () => new PostgresThrottleStore(await db()), options);
  describeAuditStoreContract(backend.name, async () => new PostgresAuditStore(await db()), options);
}

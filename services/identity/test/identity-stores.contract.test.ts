/**
 * Identity's stores (accounts and users, refresh tokens, signing keys, login throttle, audit log,
 * TOTP, grants, SSO connections, OAuth clients): each port's contract against its in-memory double, PGlite and Postgres.
 */
import { randomBytes } from 'node:crypto';
import { createSecretBox } from '#libs/crypto/secret-box.ts';
import { storeBackends } from '../../../test/harness/store-backends.ts';
import { identityMigrations } from '../src/app.ts';
import { PostgresGrantStore, PostgresTotpStore } from '../src/store/postgres-extras-store.ts';
import { PostgresIdentityStore } from '../src/store/postgres-identity-store.ts';
import { PostgresOAuthClientStore } from '../src/store/postgres-oauth-store.ts';
import { PostgresSsoStore } from '../src/store/postgres-sso-store.ts';
import { PostgresAuditStore, PostgresRefreshTokenStore, PostgresSigningKeyStore, PostgresThrottleStore } from '../src/store/postgres-session-store.ts';
import { describeAuditStoreContract } from './contracts/audit-store.contract.ts';
import { describeGrantStoreContract } from './contracts/grant-store.contract.ts';
import { describeIdentityStoreContract } from './contracts/identity-store.contract.ts';
import { describeOAuthClientStoreContract } from './contracts/oauth-client-store.contract.ts';
import { describeRefreshTokenStoreContract } from './contracts/refresh-token-store.contract.ts';
import { describeSigningKeyStoreContract } from './contracts/signing-key-store.contract.ts';
import { describeSsoStoreContract } from './contracts/sso-store.contract.ts';
import { describeThrottleStoreContract } from './contracts/throttle-store.contract.ts';
import { describeTotpStoreContract } from './contracts/totp-store.contract.ts';
import { InMemoryAuditStore } from './doubles/in-memory-audit-store.ts';
import { InMemoryGrantStore } from './doubles/in-memory-grant-store.ts';
import { InMemoryIdentityStore } from './doubles/in-memory-identity-store.ts';
import { InMemoryOAuthClientStore } from './doubles/in-memory-oauth-client-store.ts';
import { InMemoryRefreshTokenStore } from './doubles/in-memory-refresh-token-store.ts';
import { InMemorySigningKeyStore } from './doubles/in-memory-signing-key-store.ts';
import { InMemorySsoStore } from './doubles/in-memory-sso-store.ts';
import { InMemoryThrottleStore } from './doubles/in-memory-throttle-store.ts';
import { InMemoryTotpStore } from './doubles/in-memory-totp-store.ts';

describeIdentityStoreContract('in-memory', () => new InMemoryIdentityStore());
describeRefreshTokenStoreContract('in-memory', () => new InMemoryRefreshTokenStore());
describeSigningKeyStoreContract('in-memory', () => new InMemorySigningKeyStore());
describeThrottleStoreContract('in-memory', () => new InMemoryThrottleStore());
describeAuditStoreContract('in-memory', () => new InMemoryAuditStore());
describeTotpStoreContract('in-memory', () => new InMemoryTotpStore());
describeGrantStoreContract('in-memory', () => new InMemoryGrantStore());
describeSsoStoreContract('in-memory', () => new InMemorySsoStore());
describeOAuthClientStoreContract('in-memory', () => new InMemoryOAuthClientStore());

// The session contracts use made-up user and account ids: the suite's own database (never the
// run's shared one) has those tables' foreign keys to users and accounts relaxed.
const relaxForeignKeys = `
  alter table identity.refresh_families drop constraint if exists refresh_families_user_id_fkey;
  alter table identity.totp_enrollments drop constraint if exists totp_enrollments_user_id_fkey;
  alter table identity.resources drop constraint if exists resources_account_id_fkey;
  alter table identity.resource_grants drop constraint if exists resource_grants_user_id_fkey;
  alter table identity.sso_connections drop constraint if exists sso_connections_account_id_fkey;
  alter table identity.sso_links drop constraint if exists sso_links_user_id_fkey;
  alter table identity.oauth_clients drop constraint if exists oauth_clients_account_id_fkey;`;
const secretBox = createSecretBox(randomBytes(32));
for (const backend of storeBackends([identityMigrations], { afterMigrate: (database) => database.execScript(relaxForeignKeys) })) {
  const db = async () => (await backend.database()).db;
  const options = { skip: backend.skip };
  describeIdentityStoreContract(backend.name, async () => new PostgresIdentityStore(await db()), options);
  describeRefreshTokenStoreContract(backend.name, async () => new PostgresRefreshTokenStore(await db()), options);
  describeSigningKeyStoreContract(backend.name, async () => new PostgresSigningKeyStore(await db()), options);
  describeThrottleStoreContract(backend.name, async () => new PostgresThrottleStore(await db()), options);
  describeAuditStoreContract(backend.name, async () => new PostgresAuditStore(await db()), options);
  describeTotpStoreContract(backend.name, async () => new PostgresTotpStore(await db(), secretBox), options);
  describeGrantStoreContract(backend.name, async () => new PostgresGrantStore(await db()), options);
  describeSsoStoreContract(backend.name, async () => new PostgresSsoStore(await db()), options);
  describeOAuthClientStoreContract(backend.name, async () => new PostgresOAuthClientStore(await db()), options);
}

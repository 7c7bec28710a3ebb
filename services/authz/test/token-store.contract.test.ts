import { storeBackends } from '../../../test/harness/store-backends.ts';
import { authzMigrations } from '../src/app.ts';
import { PostgresTokenStore } from '../src/store/postgres-token-store.ts';
import { describeTokenStoreContract } from './contracts/token-store.contract.ts';
import { InMemoryTokenStore } from './doubles/in-memory-token-store.ts';

describeTokenStoreContract('in-memory', () => new InMemoryTokenStore());
for (const backend of storeBackends([authzMigrations])) {
  describeTokenStoreContract(backend.name, async () => new PostgresTokenStore((await backend.database()).db), { skip: backend.skip });
}

import { storeBackends } from '../../../test/harness/store-backends.ts';
import { quotaMigrations } from '../src/app.ts';
import { PostgresLimitStore } from '../src/store/postgres-limit-store.ts';
import { PostgresQuotaStateStore } from '../src/store/postgres-quota-state-store.ts';
import { PostgresUsageStore } from '../src/store/postgres-usage-store.ts';
import { describeLimitStoreContract, describeQuotaStateStoreContract, describeUsageStoreContract } from './contracts/quota-store.contract.ts';
import { InMemoryLimitStore } from './doubles/in-memory-limit-store.ts';
import { InMemoryQuotaStateStore } from './doubles/in-memory-quota-state-store.ts';
import { InMemoryUsageStore } from './doubles/in-memory-usage-store.ts';

describeLimitStoreContract('in-memory', () => new InMemoryLimitStore());
describeUsageStoreContract('in-memory', () => new InMemoryUsageStore());
describeQuotaStateStoreContract('in-memory', () => new InMemoryQuotaStateStore());
for (const backend of storeBackends([quotaMigrations])) {
  const db = async () => (await backend.database()).db;
  describeLimitStoreContract(backend.name, async () => new PostgresLimitStore(await db()), { skip: backend.skip });
  describeUsageStoreContract(backend.name, async () => new PostgresUsageStore(await db()), { skip: backend.skip });
  describeQuotaStateStoreContract(backend.name, async () => new PostgresQuotaStateStore(await db()), { skip: backend.skip });
}

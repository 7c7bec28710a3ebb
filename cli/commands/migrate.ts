import type { StartableService } from '#libs/config/index.ts';
import type { MeshEnv } from '../mesh-config.ts';
import type { Output } from '../output.ts';
import { migrateAll, openMeshDatabase } from '../mesh.ts';

/** `tollgate migrate`: applies pending migrations of every service (or one) and reports them. */
export async function runMigrate(env: MeshEnv, options: { service: StartableService | undefined; out: Output }): Promise<number> {
  const database = await openMeshDatabase({ databaseUrl: env.DATABASE_URL, dataDir: env.TOLLGATE_DATA_DIR }, undefined);
  try {
    const results = await migrateAll(database, options.service);
    options.out.result({ database: database.kind, schemas: results.map((r) => ({ schema: r.schema, applied: r.applied })) }, () =>
      results.map((r) => `${r.schema}: ${r.applied.length ? `applied ${r.applied.join(', ')}` : 'up to date'}`).join('\n'),
    );
    return 0;
  } finally {
    await database.close();
  }
}

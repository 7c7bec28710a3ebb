import { existsSync, chmodSync } from 'node:fs';
import { resolve } from 'node:path';
import { sql } from 'drizzle-orm';
import type { MeshEnv } from '../mesh-config.ts';
import { AppError } from '#libs/errors/index.ts';
import { PeerDirectory } from '#libs/rpc/index.ts';
import { createLogger, startTelemetry } from '#libs/telemetry/index.ts';
import { createIdentityApp } from '#services/identity/src/app.ts';
import { createAuthzApp } from '#services/authz/src/app.ts';
import type { Output } from '../output.ts';
import { migrateAll, openMeshDatabase } from '../mesh.ts';
import { resolveSecretKey } from '../secret-key.ts';
import { createRootIfEmpty, writeCredentialsFile, type BootstrapCredentials } from '../bootstrap.ts';

/** Any constant of our own: bootstraps of one database serialize on it (a Job retried while the first still runs). */
const BOOTSTRAP_LOCK = 7_301_401;

/**
 * `tollgate bootstrap`: the first start of a production mesh, run once from a Job or a compose
 * step — needs DATABASE_URL and the mesh's TOLLGATE_SECRET_KEY, no running service. Applies
 * pending migrations, then creates the root account, its owner and a master token through the
 * services' own cores in this process (identity serves authz's account lookups on a loopback port
 * for the duration). A database that already has an account is left as it is.
 */
export async function runBootstrap(env: MeshEnv, options: { out: Output; file: string | undefined }): Promise<number> {
  const file = options.file === undefined ? undefined : resolve(options.file);
  const secretKey = resolveSecretKey({ configured: env.TOLLGATE_SECRET_KEY, env: env.TOLLGATE_ENV, dataDir: resolve(env.TOLLGATE_DATA_DIR) });
  const database = await openMeshDatabase({ databaseUrl: env.DATABASE_URL, dataDir: env.TOLLGATE_DATA_DIR }, undefined);
  const logger = createLogger({ level: env.TOLLGATE_LOG_LEVEL === 'info' ? 'warn' : env.TOLLGATE_LOG_LEVEL, name: 'bootstrap' });
  const telemetry = startTelemetry({ serviceName: 'tollgate-bootstrap' });
  const peers = new PeerDirectory();
  const deps = { database, logger, telemetry, secretKey };
  const identity = createIdentityApp(
    { listen: { host: '127.0.0.1', grpcPort: 0 }, peers, argon2: { memoryCost: env.TOLLGATE_ARGON2_MEMORY_KIB, timeCost: env.TOLLGATE_ARGON2_ITERATIONS } },
    deps,
  );
  const authz = createAuthzApp({ listen: { host: '127.0.0.1', grpcPort: 0 }, peers }, deps);
  try {
    const run = async () => {
      const migrations = await migrateAll(database);
      const applied = migrations.flatMap((m) => m.applied.map((a) => `${m.schema}/${a}`));
      if ((await identity.core.store.countAccounts()) > 0) return { applied, credentials: undefined };
      // Checked before anything is created: credentials that cannot be written must not exist.
      if (file && existsSync(file)) throw new AppError('FAILED_PRECONDITION', `--out: ${file} exists; not overwriting it`, { field: 'out' });
      peers.set('identity', (await identity.start()).grpcAddress);
      const credentials = await createRootIfEmpty({ identity: identity.core, authz: authz.core });
      if (credentials && file) {
        writeCredentialsFile(file, credentials);
        chmodSync(file, 0o600);
      }
      return { applied, credentials };
    };
    const { applied, credentials } =
      database.kind === 'postgres'
        ? // A transaction-scoped advisory lock on a connection of its own: concurrent bootstraps wait, then find the account.
          await database.db.transaction(async (tx) => {
            await tx.execute(sql`select pg_advisory_xact_lock(${BOOTSTRAP_LOCK})`);
            return run();
          })
        : await run();
    report(options.out, { applied, credentials, file });
    return 0;
  } finally {
    await identity.stop();
    authz.core.identity.close();
    await telemetry.shutdown();
    await database.close();
  }
}

function report(out: Output, result: { applied: string[]; credentials: BootstrapCredentials | undefined; file: string | undefined }): void {
  const { applied, credentials, file } = result;
  if (!credentials) {
    out.result({ created: false, migrations_applied: applied }, () =>
      [...(applied.length ? [`applied ${applied.length} migrations`] : []), 'already bootstrapped: the database has accounts; nothing changed'].join('\n'),
    );
    return;
  }
  if (file) {
    out.result({ created: true, account_id: credentials.account_id, username: credentials.username, file, migrations_applied: applied }, () =>
      [
        ...(applied.length ? [`applied ${applied.length} migrations`] : []),
        `bootstrapped: root account ${credentials.account_id}, owner ${credentials.username}, a master token`,
        `credentials written to ${file} (mode 0600)`,
      ].join('\n'),
    );
    return;
  }
  out.result({ created: true, ...credentials, migrations_applied: applied }, () =>
    [
      ...(applied.length ? [`applied ${applied.length} migrations`] : []),
      'bootstrapped the root account and its owner. Shown once — store them now:',
      `  account:      ${credentials.account_id}`,
      `  username:     ${credentials.username}`,
      `  password:     ${credentials.password}`,
      `  master token: ${credentials.master_token}`,
    ].join('\n'),
  );
}

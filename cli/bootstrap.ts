import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IdentityCore } from '#services/identity/src/identity-core.ts';
import type { AuthzCore } from '#services/authz/src/authz-core.ts';

export interface BootstrapCredentials {
  account_id: string;
  username: string;
  password: string;
  master_token: string;
}

/**
 * The mesh's first tenant: a root account, an `owner` user named `admin` with a random password, and
 * a master token — when the database has no account yet. Otherwise nothing changes (`undefined`).
 * The password and token are shown to the caller once; only their hashes are stored.
 */
export async function createRootIfEmpty(cores: { identity: IdentityCore; authz: AuthzCore }): Promise<BootstrapCredentials | undefined> {
  if ((await cores.identity.store.countAccounts()) > 0) return undefined;
  const account = await cores.identity.createAccount({ name: 'root' });
  const password = randomBytes(18).toString('base64url');
  const user = await cores.identity.createUser({ username: 'admin', password, accountId: account.id, role: 'owner' });
  const { secret } = await cores.authz.createToken({
    accountId: account.id,
    name: 'bootstrap master token',
    kind: 'master',
    rules: [],
    ipAllow: [],
    expiresAtMs: undefined,
    ttlSeconds: 0,
    shortForm: false,
    createdBy: user.id,
  });
  return { account_id: account.id, username: user.username, password, master_token: secret };
}

/** Writes credentials to a new file readable by its owner only (mode 0600); never overwrites one. */
export function writeCredentialsFile(file: string, credentials: BootstrapCredentials): void {
  writeFileSync(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
}

/**
 * Development's one-process first start: `createRootIfEmpty`, written once to
 * `<data dir>/bootstrap.json` (mode 0600). Later starts change nothing and read the file back.
 */
export async function bootstrapIfEmpty(options: { identity: { core: IdentityCore }; authz: { core: AuthzCore }; dataDir: string }): Promise<{ created: boolean; file: string; credentials: BootstrapCredentials | undefined }> {
  const file = join(options.dataDir, 'bootstrap.json');
  const credentials = await createRootIfEmpty({ identity: options.identity.core, authz: options.authz.core });
  if (!credentials) {
    const existing = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as BootstrapCredentials) : undefined;
    return { created: false, file, credentials: existing };
  }
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  return { created: true, file, credentials };
}

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IdentityApp } from '#services/identity/src/app.ts';
import type { AuthzApp } from '#services/authz/src/app.ts';

export interface BootstrapCredentials {
  account_id: string;
  username: string;
  password: string;
  master_token: string;
}

/**
 * First start: a root account, an `owner` user named `admin` with a random password, and a master
 * token — written once to `<data dir>/bootstrap.json` (mode 0600). Later starts change nothing.
 */
export async function bootstrapIfEmpty(options: { identity: IdentityApp; authz: AuthzApp; dataDir: string }): Promise<{ created: boolean; file: string; credentials: BootstrapCredentials | undefined }> {
  const file = join(options.dataDir, 'bootstrap.json');
  if ((await options.identity.core.store.countAccounts()) > 0) {
    const credentials = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as BootstrapCredentials) : undefined;
    return { created: false, file, credentials };
  }
  const account = await options.identity.core.createAccount({ name: 'root' });
  const password = randomBytes(18).toString('base64url');
  const user = await options.identity.core.createUser({ username: 'admin', password, accountId: account.id, role: 'owner' });
  const { secret } = await options.authz.core.createToken({
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
  const credentials: BootstrapCredentials = { account_id: account.id, username: user.username, password, master_token: secret };
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  return { created: true, file, credentials };
}

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSecretKey, parseSecretKey } from '#libs/crypto/secret-box.ts';
import { AppError } from '#libs/errors/index.ts';

/**
 * The mesh's master key. Production requires TOLLGATE_SECRET_KEY; development generates one into
 * `<data dir>/secret.key` (mode 0600) on first start and reuses it.
 */
export function resolveSecretKey(options: { configured: string | undefined; env: 'development' | 'production'; dataDir: string; mustExist?: boolean }): Uint8Array {
  if (options.configured) return parseSecretKey(options.configured);
  if (options.env === 'production') {
    throw new AppError('INVALID_ARGUMENT', 'TOLLGATE_SECRET_KEY: required in production (32 bytes, base64 or hex)', { field: 'TOLLGATE_SECRET_KEY' });
  }
  const file = join(options.dataDir, 'secret.key');
  if (existsSync(file)) return parseSecretKey(readFileSync(file, 'utf8').trim(), file);
  if (options.mustExist) throw new AppError('INVALID_ARGUMENT', `TOLLGATE_SECRET_KEY: not set and no ${file} (run this where the mesh runs)`, { field: 'TOLLGATE_SECRET_KEY' });
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const key = generateSecretKey();
  writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  return parseSecretKey(key, file);
}

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaultPorts, type ServiceName } from '#libs/config/index.ts';
import type { MeshEnv } from './mesh-config.ts';
import { AppError } from '#libs/errors/index.ts';
import type { RpcClientTlsConfig } from '#libs/rpc/index.ts';
import { UsageError } from './output.ts';

/** Where the CLI finds each service: the peer URL env, else the one-process host and port. */
export function serviceAddress(env: MeshEnv, name: ServiceName): string {
  const host = env.TOLLGATE_HOST === '0.0.0.0' ? '127.0.0.1' : env.TOLLGATE_HOST;
  const configured = { identity: env.TOLLGATE_IDENTITY_URL, authz: env.TOLLGATE_AUTHZ_URL, quota: env.TOLLGATE_QUOTA_URL, broker: env.TOLLGATE_BROKER_URL }[name];
  const port = { identity: env.TOLLGATE_IDENTITY_GRPC_PORT, authz: env.TOLLGATE_AUTHZ_GRPC_PORT, quota: env.TOLLGATE_QUOTA_GRPC_PORT, broker: env.TOLLGATE_BROKER_GRPC_PORT }[name];
  return configured ?? `${host}:${port || defaultPorts[name].grpc}`;
}

export function clientTls(env: MeshEnv): RpcClientTlsConfig | undefined {
  return env.TOLLGATE_GRPC_TLS_CERT ? { caFile: env.TOLLGATE_GRPC_TLS_CA ?? env.TOLLGATE_GRPC_TLS_CERT, certFile: env.TOLLGATE_GRPC_TLS_CERT, keyFile: env.TOLLGATE_GRPC_TLS_KEY } : undefined;
}

/**
 * The credential admin verbs present: `--token`, else TOLLGATE_TOKEN, else (development only) the
 * master token in `<data dir>/bootstrap.json`.
 */
/**
 * The credential: `--token`, else `TOLLGATE_TOKEN`, else (development only, neither given) the
 * bootstrap master token. A token that was given but is empty is a usage error — never a reason to
 * fall back to the far more powerful bootstrap token (`tollgate check --token ''` once answered
 * ALLOW by evaluating the master token instead).
 */
export function resolveCliToken(env: MeshEnv, flag: string | undefined, envToken: string | undefined): string {
  if (flag !== undefined) {
    if (!flag.trim()) throw new UsageError('--token: an empty credential was given (omit --token to use TOLLGATE_TOKEN)');
    return flag;
  }
  if (envToken !== undefined) {
    if (!envToken.trim()) throw new UsageError('TOLLGATE_TOKEN is set but empty (unset it, or pass --token)');
    return envToken;
  }
  const file = join(resolve(env.TOLLGATE_DATA_DIR), 'bootstrap.json');
  if (env.TOLLGATE_ENV === 'development' && existsSync(file)) {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { master_token?: string };
    if (parsed.master_token) return parsed.master_token;
  }
  throw new AppError('UNAUTHENTICATED', 'no credential: pass --token or set TOLLGATE_TOKEN', { reason: 'CREDENTIAL_MISSING' });
}

export function bootstrapAccountId(env: MeshEnv): string | undefined {
  const file = join(resolve(env.TOLLGATE_DATA_DIR), 'bootstrap.json');
  if (!existsSync(file)) return undefined;
  return (JSON.parse(readFileSync(file, 'utf8')) as { account_id?: string }).account_id;
}

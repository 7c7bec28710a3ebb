import { z } from 'zod';
import { commonChecks, commonConfigFrom, defaultPorts, distinctPorts, duration, parseEnv, port, positiveInt, serviceEnvShape, url, type CommonConfig, type CrossCheck, type Env } from '#libs/config/index.ts';

/** identity's own settings (env names are the keys; README "Settings"). */
export const identityEnvShape = {
  TOLLGATE_IDENTITY_GRPC_PORT: port(defaultPorts.identity.grpc),
  TOLLGATE_IDENTITY_HTTP_PORT: port(defaultPorts.identity.http),
  TOLLGATE_ACCESS_TOKEN_TTL: duration('6h'),
  /** Public issuer URL of identity's tokens and OIDC provider (`iss`, discovery); unset: identity's own HTTP address. */
  TOLLGATE_JWT_ISSUER: url(['http', 'https']).optional(),
  /** argon2id cost (OWASP defaults: 19456 KiB, 2 iterations, parallelism 1). */
  TOLLGATE_ARGON2_MEMORY_KIB: positiveInt(19_456, 'KiB'),
  TOLLGATE_ARGON2_ITERATIONS: positiveInt(2, 'iterations'),
  /** Failed logins of one username from one address before that (username, address) is locked out, and how long it lasts. */
  TOLLGATE_LOGIN_MAX_FAILURES: positiveInt(5, 'failures'),
  TOLLGATE_LOGIN_LOCKOUT: duration('15m'),
  /** Failed logins from one address over every username (password spraying) before the address is locked out. */
  TOLLGATE_LOGIN_MAX_FAILURES_PER_ADDRESS: positiveInt(20, 'failures'),
  /** Distinct addresses failing for one username within the window that lock it from every address (a distributed attack). */
  TOLLGATE_LOGIN_DISTRIBUTED_ADDRESSES: positiveInt(3, 'addresses'),
};

export const identityEnvSchema = z.object({ ...serviceEnvShape, ...identityEnvShape });
export type IdentityEnv = z.infer<typeof identityEnvSchema>;

export const identityPortNames = ['TOLLGATE_IDENTITY_GRPC_PORT', 'TOLLGATE_IDENTITY_HTTP_PORT'] as const;

/** Checks across identity's settings. */
export const identityChecks: CrossCheck<IdentityEnv> = (values) => [...commonChecks(values), ...distinctPorts(values, identityPortNames)];

export interface IdentityConfig {
  common: CommonConfig;
  grpcPort: number;
  httpPort: number;
  accessTokenTtlMs: number;
  issuer: string | undefined;
  argon2: { memoryCost: number; timeCost: number };
  lockout: { maxFailures: number; lockoutMs: number; maxFailuresPerAddress: number; distinctAddresses: number };
}

export function identityConfigFrom(env: IdentityEnv): IdentityConfig {
  return {
    common: commonConfigFrom(env),
    grpcPort: env.TOLLGATE_IDENTITY_GRPC_PORT,
    httpPort: env.TOLLGATE_IDENTITY_HTTP_PORT,
    accessTokenTtlMs: env.TOLLGATE_ACCESS_TOKEN_TTL,
    issuer: env.TOLLGATE_JWT_ISSUER,
    argon2: { memoryCost: env.TOLLGATE_ARGON2_MEMORY_KIB, timeCost: env.TOLLGATE_ARGON2_ITERATIONS },
    lockout: {
      maxFailures: env.TOLLGATE_LOGIN_MAX_FAILURES,
      lockoutMs: env.TOLLGATE_LOGIN_LOCKOUT,
      maxFailuresPerAddress: env.TOLLGATE_LOGIN_MAX_FAILURES_PER_ADDRESS,
      distinctAddresses: env.TOLLGATE_LOGIN_DISTRIBUTED_ADDRESSES,
    },
  };
}

/** identity's configuration from the environment: every problem reported together (ConfigError). */
export function loadIdentityConfig(env: Env): IdentityConfig {
  return identityConfigFrom(parseEnv(identityEnvSchema, env, identityChecks));
}

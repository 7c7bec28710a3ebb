import { z } from 'zod';
import { commonChecks, commonConfigFrom, defaultPorts, distinctPorts, parseEnv, port, serviceEnvShape, type CommonConfig, type CrossCheck, type Env } from '#libs/config/index.ts';
import { resolveQuotaReplicas, type QuotaReplicaSet } from './replicas.ts';

/** quota's own settings (env names are the keys; README "Replicas"). */
export const quotaEnvShape = {
  TOLLGATE_QUOTA_GRPC_PORT: port(defaultPorts.quota.grpc),
  TOLLGATE_QUOTA_HTTP_PORT: port(defaultPorts.quota.http),
  /**
   * Quota replicas (gRPC host:port, comma separated, the same order on every replica; one `{a..b}`
   * range per entry expands, e.g. `quota-{0..1}.quota-headless:7301`); unset: one replica. Each
   * replica finds itself by its host name (HOSTNAME) = an entry's first DNS label (replicas.ts).
   */
  TOLLGATE_QUOTA_REPLICAS: z.string().regex(/^[A-Za-z0-9.:_\-[\]{}]+:\d{1,5}(,[A-Za-z0-9.:_\-[\]{}]+:\d{1,5})*$/, { message: 'expected host:port,host:port,… (or quota-{0..N}.name:port)' }).optional(),
  /** Explicit override of the host-name match: this replica's 0-based position in TOLLGATE_QUOTA_REPLICAS. */
  TOLLGATE_QUOTA_REPLICA_INDEX: z.string().regex(/^\d{1,3}$/, { message: 'expected the 0-based index of this replica in TOLLGATE_QUOTA_REPLICAS' }).transform(Number).optional(),
};

export const quotaEnvSchema = z.object({ ...serviceEnvShape, ...quotaEnvShape });
export type QuotaEnv = z.infer<typeof quotaEnvSchema>;

export const quotaPortNames = ['TOLLGATE_QUOTA_GRPC_PORT', 'TOLLGATE_QUOTA_HTTP_PORT'] as const;

/**
 * Checks across quota's settings: the replica list against this host's name (or the index), so a
 * bad list is reported before anything opens — ownership is derived, never guessed.
 */
export const quotaChecks: CrossCheck<QuotaEnv> = (values) => {
  const problems = [...commonChecks(values), ...distinctPorts(values, quotaPortNames)];
  // A list or index that is itself malformed already has its problem; the match needs both parsed.
  if ('TOLLGATE_QUOTA_REPLICAS' in values && 'TOLLGATE_QUOTA_REPLICA_INDEX' in values) {
    try {
      replicasOf(values);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  return problems;
};

const replicasOf = (env: Partial<QuotaEnv>) => resolveQuotaReplicas({ replicas: env.TOLLGATE_QUOTA_REPLICAS, index: env.TOLLGATE_QUOTA_REPLICA_INDEX, hostname: env.HOSTNAME });

export interface QuotaConfig {
  common: CommonConfig;
  grpcPort: number;
  httpPort: number;
  /** Several replicas: every replica's address and which one this process is; undefined: one replica. */
  replicas: QuotaReplicaSet | undefined;
}

export function quotaConfigFrom(env: QuotaEnv): QuotaConfig {
  return { common: commonConfigFrom(env), grpcPort: env.TOLLGATE_QUOTA_GRPC_PORT, httpPort: env.TOLLGATE_QUOTA_HTTP_PORT, replicas: replicasOf(env) };
}

/** quota's configuration from the environment: every problem reported together (ConfigError). */
export function loadQuotaConfig(env: Env): QuotaConfig {
  return quotaConfigFrom(parseEnv(quotaEnvSchema, env, quotaChecks));
}

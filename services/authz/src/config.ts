import { z } from 'zod';
import { commonChecks, commonConfigFrom, defaultPorts, distinctPorts, parseEnv, port, serviceEnvShape, subscribeOverlapEnvShape, type CommonConfig, type CrossCheck, type Env } from '#libs/config/index.ts';
import type { SharedBrokerNamespace } from './http/adapter-topic.ts';

/** authz's own settings (env names are the keys; README "Settings"). */
export const authzEnvShape = {
  TOLLGATE_AUTHZ_GRPC_PORT: port(defaultPorts.authz.grpc),
  TOLLGATE_AUTHZ_HTTP_PORT: port(defaultPorts.authz.http),
  /**
   * The account RabbitMQ's default vhost `/` stands for (single-tenant deployments: only that
   * account's principals, or its ancestors' master tokens, may use `/`); unset: `/` is refused and
   * every account uses the vhost named by its id.
   */
  TOLLGATE_RABBITMQ_DEFAULT_VHOST_ACCOUNT: z.string().regex(/^acc_[0-9a-z]{20}$/, { message: 'expected an account id (acc_…)' }).optional(),
  /**
   * How EMQX and Mosquitto (go-auth), which have one topic space for every account, keep accounts
   * apart: `account-prefix` — every topic is `<account id>/<topic>` — or `none`, topics as they are
   * in the principal's own account (single tenant: every account shares the broker's topics).
   */
  TOLLGATE_SHARED_BROKER_NAMESPACE: z.enum(['account-prefix', 'none'], { message: 'expected account-prefix or none' }).default('account-prefix'),
  ...subscribeOverlapEnvShape,
};

export const authzEnvSchema = z.object({ ...serviceEnvShape, ...authzEnvShape });
export type AuthzEnv = z.infer<typeof authzEnvSchema>;

export const authzPortNames = ['TOLLGATE_AUTHZ_GRPC_PORT', 'TOLLGATE_AUTHZ_HTTP_PORT'] as const;

/** Checks across authz's settings. */
export const authzChecks: CrossCheck<AuthzEnv> = (values) => [...commonChecks(values), ...distinctPorts(values, authzPortNames)];

export interface AuthzConfig {
  common: CommonConfig;
  grpcPort: number;
  httpPort: number;
  rabbitmqDefaultVhostAccountId: string | undefined;
  sharedBrokerNamespace: SharedBrokerNamespace;
  subscribeOverlap: 'filter' | 'refuse';
}

export function authzConfigFrom(env: AuthzEnv): AuthzConfig {
  return {
    common: commonConfigFrom(env),
    grpcPort: env.TOLLGATE_AUTHZ_GRPC_PORT,
    httpPort: env.TOLLGATE_AUTHZ_HTTP_PORT,
    rabbitmqDefaultVhostAccountId: env.TOLLGATE_RABBITMQ_DEFAULT_VHOST_ACCOUNT,
    sharedBrokerNamespace: env.TOLLGATE_SHARED_BROKER_NAMESPACE,
    subscribeOverlap: env.TOLLGATE_ACL_SUBSCRIBE_OVERLAP,
  };
}

/** authz's configuration from the environment: every problem reported together (ConfigError). */
export function loadAuthzConfig(env: Env): AuthzConfig {
  return authzConfigFrom(parseEnv(authzEnvSchema, env, authzChecks));
}

import { z } from 'zod';
import { commonConfigFrom, distinctPorts, parseEnv, serviceEnvShape, type CommonConfig, type CrossCheck, type Env, type StartableService } from '#libs/config/index.ts';
import { identityChecks, identityConfigFrom, identityEnvShape, identityPortNames, type IdentityConfig } from '#services/identity/src/config.ts';
import { authzChecks, authzConfigFrom, authzEnvShape, authzPortNames, type AuthzConfig } from '#services/authz/src/config.ts';
import { quotaChecks, quotaConfigFrom, quotaEnvShape, quotaPortNames, type QuotaConfig } from '#services/quota/src/config.ts';
import { brokerChecks, brokerConfigFrom, brokerEnvShape, brokerPortNames, type BrokerConfig } from '#services/broker/src/config.ts';
import { consoleChecks, consoleConfigFrom, consoleEnvShape, consolePortNames, type ConsoleConfig } from '#services/console/src/config.ts';

/**
 * Every setting of the mesh: the shared ones (libs/config) and each service's own
 * (services/<name>/src/config.ts). The CLI reads the environment with it once; deploy/ is checked
 * against its names.
 */
export const meshEnvSchema = z.object({ ...serviceEnvShape, ...identityEnvShape, ...authzEnvShape, ...quotaEnvShape, ...brokerEnvShape, ...consoleEnvShape });
export type MeshEnv = z.infer<typeof meshEnvSchema>;

const services = {
  identity: { checks: identityChecks, ports: () => [...identityPortNames] },
  authz: { checks: authzChecks, ports: () => [...authzPortNames] },
  quota: { checks: quotaChecks, ports: () => [...quotaPortNames] },
  broker: { checks: brokerChecks, ports: brokerPortNames },
  console: { checks: consoleChecks, ports: () => [...consolePortNames] },
} satisfies Record<StartableService, { checks: CrossCheck<never>; ports: (values: Partial<MeshEnv>) => string[] }>;

const running = (only: StartableService | undefined) => (only ? [only] : (Object.keys(services) as StartableService[]));

/** The cross-field checks of the services that run here, and in one process every port once. */
export function meshChecks(only: StartableService | undefined): CrossCheck<MeshEnv> {
  return (values) => [
    ...running(only).flatMap((name) => (services[name].checks as CrossCheck<MeshEnv>)(values)),
    ...(only ? [] : distinctPorts(values, running(only).flatMap((name) => services[name].ports(values)))),
  ];
}

/** What a process runs: the shared settings and the config of each service it starts. */
export interface MeshConfig {
  /** The one service of `tollgate start --service NAME`; undefined: all of them in one process. */
  only: StartableService | undefined;
  common: CommonConfig;
  identity: IdentityConfig | undefined;
  authz: AuthzConfig | undefined;
  quota: QuotaConfig | undefined;
  broker: BrokerConfig | undefined;
  console: ConsoleConfig | undefined;
}

/** The configs of the services that run, from settings that passed `meshChecks(only)`. */
export function meshConfigFrom(env: MeshEnv, only: StartableService | undefined): MeshConfig {
  const runs = (name: StartableService) => !only || only === name;
  return {
    only,
    common: commonConfigFrom(env),
    identity: runs('identity') ? identityConfigFrom(env) : undefined,
    authz: runs('authz') ? authzConfigFrom(env) : undefined,
    quota: runs('quota') ? quotaConfigFrom(env) : undefined,
    broker: runs('broker') ? brokerConfigFrom(env) : undefined,
    console: runs('console') ? consoleConfigFrom(env) : undefined,
  };
}

/** The environment read for `only` (or the whole mesh): every problem reported together (ConfigError). */
export function loadMeshConfig(env: Env, only: StartableService | undefined): MeshConfig {
  return meshConfigFrom(parseEnv(meshEnvSchema, env, meshChecks(only)), only);
}

import { describe, expect, it } from 'vitest';
import { ConfigError } from '#libs/config/index.ts';
import { loadMeshConfig, meshEnvSchema } from './mesh-config.ts';
import { identityEnvSchema } from '#services/identity/src/config.ts';
import { authzEnvSchema } from '#services/authz/src/config.ts';
import { quotaEnvSchema } from '#services/quota/src/config.ts';
import { brokerEnvSchema } from '#services/broker/src/config.ts';
import { consoleEnvSchema } from '#services/console/src/config.ts';

const problemsOf = (env: Record<string, string>, only?: 'identity' | 'authz' | 'quota' | 'broker' | 'console') => {
  try {
    loadMeshConfig(env, only);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
};

describe('the mesh config: every service config, one process', () => {
  it("is exactly the union of the services' settings", () => {
    const union = new Set([identityEnvSchema, authzEnvSchema, quotaEnvSchema, brokerEnvSchema, consoleEnvSchema].flatMap((s) => Object.keys(s.shape)));
    expect(new Set(Object.keys(meshEnvSchema.shape))).toEqual(union);
  });

  it('builds the config of each service it runs, and only those', () => {
    const all = loadMeshConfig({}, undefined);
    expect([all.identity, all.authz, all.quota, all.broker, all.console].every((c) => c !== undefined)).toBe(true);
    const quota = loadMeshConfig({}, 'quota');
    expect([quota.identity, quota.authz, quota.quota?.grpcPort, quota.broker, quota.console]).toEqual([undefined, undefined, 7301, undefined, undefined]);
  });

  it('checks across services only in one process: two services on one port', () => {
    expect(problemsOf({ TOLLGATE_IDENTITY_HTTP_PORT: '7000' })).toEqual(["TOLLGATE_CONSOLE_HTTP_PORT: port 7000 is already TOLLGATE_IDENTITY_HTTP_PORT's (each port once)"]);
    expect(problemsOf({ TOLLGATE_IDENTITY_HTTP_PORT: '7000' }, 'identity')).toEqual([]);
  });

  it("checks only what runs: quota's replica list does not stop a broker edge, and every problem of what runs comes together", () => {
    const env = { TOLLGATE_QUOTA_REPLICAS: 'quota-{0..1}.q:7301', HOSTNAME: 'edge-0', TOLLGATE_MQTT_TLS_KEY: '/k', TOLLGATE_GRPC_TLS_CERT: '/c' };
    expect(problemsOf(env, 'broker')).toEqual(['TOLLGATE_GRPC_TLS_CERT and TOLLGATE_GRPC_TLS_KEY: set both or neither', 'TOLLGATE_MQTT_TLS_CERT and TOLLGATE_MQTT_TLS_KEY: set both or neither']);
    expect(problemsOf(env, 'quota')).toEqual([
      'TOLLGATE_GRPC_TLS_CERT and TOLLGATE_GRPC_TLS_KEY: set both or neither',
      expect.stringMatching(/^TOLLGATE_QUOTA_REPLICAS: this host \(edge-0\) is not in the list/),
    ]);
    expect(problemsOf(env)).toHaveLength(3);
  });
});

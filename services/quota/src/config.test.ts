import { describe, expect, it } from 'vitest';
import { ConfigError } from '#libs/config/index.ts';
import { loadQuotaConfig } from './config.ts';

const problemsOf = (env: Record<string, string>) => {
  try {
    loadQuotaConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
};

const statefulSet = 'quota-{0..1}.quota-headless:7301';

describe('quota config', () => {
  it('defaults: the well-known ports, one replica', () => {
    expect(loadQuotaConfig({ HOSTNAME: 'anything' })).toMatchObject({ grpcPort: 7301, httpPort: 7300, replicas: undefined });
  });

  it('finds this replica in the list by its host name, or by the explicit index', () => {
    expect(loadQuotaConfig({ TOLLGATE_QUOTA_REPLICAS: statefulSet, HOSTNAME: 'quota-1' }).replicas).toEqual({ addresses: ['quota-0.quota-headless:7301', 'quota-1.quota-headless:7301'], self: 1 });
    expect(loadQuotaConfig({ TOLLGATE_QUOTA_REPLICAS: '10.0.0.1:7301,10.0.0.2:7301', TOLLGATE_QUOTA_REPLICA_INDEX: '0' }).replicas!.self).toBe(0);
  });

  it('a host not in the replica list is one of the problems, reported with the rest', () => {
    expect(problemsOf({ TOLLGATE_QUOTA_REPLICAS: statefulSet, HOSTNAME: 'quota-2', TOLLGATE_QUOTA_HTTP_PORT: 'http', TOLLGATE_LOG_LEVEL: 'loud' })).toEqual([
      'TOLLGATE_LOG_LEVEL: Invalid option: expected one of "fatal"|"error"|"warn"|"info"|"debug"|"trace"|"silent"',
      'TOLLGATE_QUOTA_HTTP_PORT: expected a port number 0-65535',
      "TOLLGATE_QUOTA_REPLICAS: this host (quota-2) is not in the list quota-0.quota-headless:7301,quota-1.quota-headless:7301 (an entry's first DNS label must be the host name, e.g. quota-2.quota-headless:7301; or set TOLLGATE_QUOTA_REPLICA_INDEX)",
    ]);
  });

  it('one problem is the whole message (the CLI prints it as the one line it was before)', () => {
    expect(() => loadQuotaConfig({ TOLLGATE_QUOTA_REPLICA_INDEX: '1' })).toThrow(new ConfigError(['TOLLGATE_QUOTA_REPLICA_INDEX: set only with TOLLGATE_QUOTA_REPLICAS']));
    try {
      loadQuotaConfig({ TOLLGATE_QUOTA_REPLICA_INDEX: '1' });
    } catch (error) {
      expect((error as Error).message).toBe('TOLLGATE_QUOTA_REPLICA_INDEX: set only with TOLLGATE_QUOTA_REPLICAS');
    }
  });

  it('a malformed list is reported once, by its own check, not matched against the host name', () => {
    expect(problemsOf({ TOLLGATE_QUOTA_REPLICAS: 'not a list', HOSTNAME: 'quota-0' })).toEqual(['TOLLGATE_QUOTA_REPLICAS: expected host:port,host:port,… (or quota-{0..N}.name:port)']);
    expect(problemsOf({ TOLLGATE_QUOTA_REPLICAS: 'q:1,q:1', TOLLGATE_QUOTA_REPLICA_INDEX: '0' })).toEqual(['TOLLGATE_QUOTA_REPLICAS: q:1 is listed twice']);
  });
});

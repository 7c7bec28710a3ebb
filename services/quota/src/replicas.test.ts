import { describe, expect, it } from 'vitest';
import { parseEnv } from '#libs/config/index.ts';
import { quotaEnvSchema } from './config.ts';
import { expandQuotaReplicas, resolveQuotaReplicas } from './replicas.ts';

const statefulSet = 'quota-0.quota-headless:7301,quota-1.quota-headless:7301';

describe('quota replicas: ownership derived from the host name', () => {
  it.each([
    ['quota-0', 0],
    ['quota-1', 1],
    ['QUOTA-1', 1],
    ['quota-1.quota-headless.tollgate.svc.cluster.local', 1],
  ])('a StatefulSet pod %s finds itself at %i', (hostname, self) => {
    expect(resolveQuotaReplicas({ replicas: statefulSet, index: undefined, hostname })).toEqual({ addresses: ['quota-0.quota-headless:7301', 'quota-1.quota-headless:7301'], self });
  });

  it('expands a {a..b} range in order (the StatefulSet naming)', () => {
    expect(expandQuotaReplicas('quota-{0..2}.quota-headless.tollgate.svc:7301')).toEqual(['quota-0.quota-headless.tollgate.svc:7301', 'quota-1.quota-headless.tollgate.svc:7301', 'quota-2.quota-headless.tollgate.svc:7301']);
    expect(resolveQuotaReplicas({ replicas: 'quota-{0..1}.quota-headless:7301', index: undefined, hostname: 'quota-1' })).toEqual({ addresses: ['quota-0.quota-headless:7301', 'quota-1.quota-headless:7301'], self: 1 });
    expect(expandQuotaReplicas('a:1,quota-{3..4}.q:7301,b:2')).toEqual(['a:1', 'quota-3.q:7301', 'quota-4.q:7301', 'b:2']);
  });

  it('takes TOLLGATE_QUOTA_REPLICA_INDEX as an explicit override (e.g. a list of IP addresses)', () => {
    expect(resolveQuotaReplicas({ replicas: '127.0.0.1:7301,127.0.0.1:7302', index: 1, hostname: 'laptop' })).toEqual({ addresses: ['127.0.0.1:7301', '127.0.0.1:7302'], self: 1 });
    expect(resolveQuotaReplicas({ replicas: statefulSet, index: 0, hostname: 'quota-1' })!.self).toBe(0);
  });

  it('is one replica when nothing is set', () => {
    expect(resolveQuotaReplicas({ replicas: undefined, index: undefined, hostname: 'quota-0' })).toBeUndefined();
  });

  it.each([
    [{ replicas: statefulSet, index: undefined, hostname: 'quota-2' }, 'TOLLGATE_QUOTA_REPLICAS: this host (quota-2) is not in the list quota-0.quota-headless:7301,quota-1.quota-headless:7301'],
    [{ replicas: statefulSet, index: undefined, hostname: 'broker-0' }, 'this host (broker-0) is not in the list'],
    [{ replicas: '127.0.0.1:7301,127.0.0.1:7302', index: undefined, hostname: '127' }, 'this host (127) is not in the list'],
    [{ replicas: 'quota-0.a:7301,quota-0.b:7301', index: undefined, hostname: 'quota-0' }, 'this host (quota-0) matches more than one entry of the list'],
    [{ replicas: statefulSet, index: undefined, hostname: undefined }, 'TOLLGATE_QUOTA_REPLICAS: this host has no name (HOSTNAME unset)'],
    [{ replicas: statefulSet, index: 2, hostname: 'quota-0' }, 'TOLLGATE_QUOTA_REPLICA_INDEX: 2 is past the end of TOLLGATE_QUOTA_REPLICAS (2 replicas, 0-based)'],
    [{ replicas: undefined, index: 0, hostname: 'quota-0' }, 'TOLLGATE_QUOTA_REPLICA_INDEX: set only with TOLLGATE_QUOTA_REPLICAS'],
    [{ replicas: 'q:1,q:1', index: 0, hostname: 'q' }, 'TOLLGATE_QUOTA_REPLICAS: q:1 is listed twice'],
    [{ replicas: 'quota-{2..1}.q:1', index: 0, hostname: 'q' }, 'TOLLGATE_QUOTA_REPLICAS: the range {2..1} must count up'],
  ])('refuses %j with a clear start error', (input, message) => {
    expect(() => resolveQuotaReplicas(input)).toThrow(message);
    try {
      resolveQuotaReplicas(input);
    } catch (error) {
      expect((error as { code: string }).code).toBe('INVALID_ARGUMENT');
    }
  });

  it('reads HOSTNAME and the templated list from the environment', () => {
    const env = parseEnv(quotaEnvSchema, { HOSTNAME: 'quota-1', TOLLGATE_QUOTA_REPLICAS: 'quota-{0..1}.quota-headless:7301' });
    expect(resolveQuotaReplicas({ replicas: env.TOLLGATE_QUOTA_REPLICAS, index: env.TOLLGATE_QUOTA_REPLICA_INDEX, hostname: env.HOSTNAME })!.self).toBe(1);
  });

  it('accepts peer targets that resolve to several replicas, and names the variable for anything else', () => {
    for (const target of ['authz:7201', 'dns:///authz.tollgate.svc:7201', 'ipv4:127.0.0.1:7201,127.0.0.1:7202', 'ipv6:[::1]:7201,[::1]:7202', '[::1]:7201']) {
      expect(parseEnv(quotaEnvSchema, { TOLLGATE_AUTHZ_URL: target }).TOLLGATE_AUTHZ_URL).toBe(target);
    }
    for (const bad of ['authz', 'http://authz:7201', 'authz:7201,authz2:7201', 'ipv4:']) {
      expect(() => parseEnv(quotaEnvSchema, { TOLLGATE_AUTHZ_URL: bad })).toThrow('TOLLGATE_AUTHZ_URL: expected host:port, dns:///host:port or ipv4:host:port,host:port');
    }
  });
});

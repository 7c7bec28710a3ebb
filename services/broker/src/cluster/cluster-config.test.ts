import { describe, expect, it } from 'vitest';
import { parseEnv } from '#libs/config/index.ts';
import { brokerEnvSchema } from '../config.ts';

describe('cluster settings', () => {
  it('unset: a single edge (no NATS URL), cluster name tollgate, no edge id', () => {
    const env = parseEnv(brokerEnvSchema, {});
    expect(env.TOLLGATE_NATS_URL).toBeUndefined();
    expect(env.TOLLGATE_BROKER_CLUSTER).toBe('tollgate');
    expect(env.TOLLGATE_BROKER_EDGE_ID).toBeUndefined();
  });

  it('takes nats:// and tls:// URLs, comma separated', () => {
    const env = parseEnv(brokerEnvSchema, { TOLLGATE_NATS_URL: 'nats://a:4222, tls://b:4222', TOLLGATE_BROKER_CLUSTER: 'prod-eu_1', TOLLGATE_BROKER_EDGE_ID: 'edge-7' });
    expect(env.TOLLGATE_NATS_URL).toBe('nats://a:4222, tls://b:4222');
    expect(env.TOLLGATE_BROKER_CLUSTER).toBe('prod-eu_1');
    expect(env.TOLLGATE_BROKER_EDGE_ID).toBe('edge-7');
  });

  it('takes NATS credentials and TLS files and the KV replicas (default 1)', () => {
    expect(parseEnv(brokerEnvSchema, {}).TOLLGATE_NATS_KV_REPLICAS).toBe(1);
    const env = parseEnv(brokerEnvSchema, { TOLLGATE_NATS_CREDS: '/etc/nats/edge.creds', TOLLGATE_NATS_TLS_CA: '/etc/nats/ca.pem', TOLLGATE_NATS_KV_REPLICAS: '3' });
    expect([env.TOLLGATE_NATS_CREDS, env.TOLLGATE_NATS_TLS_CA, env.TOLLGATE_NATS_KV_REPLICAS]).toEqual(['/etc/nats/edge.creds', '/etc/nats/ca.pem', 3]);
  });

  it.each([
    ['TOLLGATE_NATS_KV_REPLICAS', '0', 'expected 1-5'],
    ['TOLLGATE_NATS_KV_REPLICAS', 'three', 'expected 1-5'],
    ['TOLLGATE_NATS_URL', 'http://a:4222', 'expected nats:// or tls:// URLs'],
    ['TOLLGATE_NATS_URL', 'nats://a:4222,nope', 'expected nats:// or tls:// URLs'],
    ['TOLLGATE_BROKER_CLUSTER', 'a.b', 'expected letters, digits'],
    ['TOLLGATE_BROKER_CLUSTER', 'a*', 'expected letters, digits'],
    ['TOLLGATE_BROKER_EDGE_ID', 'edge 1', 'expected letters, digits'],
  ])('refuses %s=%j, naming it', (key, value, message) => {
    expect(() => parseEnv(brokerEnvSchema, { [key]: value })).toThrow(`${key}: ${message}`);
  });
});

import { describe, expect, it } from 'vitest';
import { ConfigError } from '#libs/config/index.ts';
import { loadAuthzConfig } from './config.ts';

const problemsOf = (env: Record<string, string>) => {
  try {
    loadAuthzConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
};

describe('authz config', () => {
  it('defaults: the well-known ports, `/` refused, account-prefixed shared brokers, overlapping subscriptions filtered', () => {
    const config = loadAuthzConfig({});
    expect(config).toMatchObject({ grpcPort: 7201, httpPort: 7200, rabbitmqDefaultVhostAccountId: undefined, sharedBrokerNamespace: 'account-prefix', subscribeOverlap: 'filter' });
  });

  it('derives server and client TLS from one certificate and key (mutual TLS with a CA)', () => {
    const tls = { TOLLGATE_GRPC_TLS_CERT: '/tls/cert.pem', TOLLGATE_GRPC_TLS_KEY: '/tls/key.pem' };
    expect(loadAuthzConfig(tls).common.grpcTls).toEqual({
      server: { certFile: '/tls/cert.pem', keyFile: '/tls/key.pem', caFile: undefined },
      client: { caFile: '/tls/cert.pem', certFile: '/tls/cert.pem', keyFile: '/tls/key.pem' },
    });
    expect(loadAuthzConfig({ ...tls, TOLLGATE_GRPC_TLS_CA: '/tls/ca.pem' }).common.grpcTls.client!.caFile).toBe('/tls/ca.pem');
  });

  it('reports every problem together, the cross-field ones included', () => {
    expect(
      problemsOf({
        TOLLGATE_RABBITMQ_DEFAULT_VHOST_ACCOUNT: 'tenant-a',
        TOLLGATE_SHARED_BROKER_NAMESPACE: 'off',
        TOLLGATE_ACL_SUBSCRIBE_OVERLAP: 'maybe',
        TOLLGATE_GRPC_TLS_KEY: '/tls/key.pem',
        TOLLGATE_AUTHZ_GRPC_PORT: '7200',
        TOLLGATE_IDENTITY_URL: 'http://identity:7101',
      }),
    ).toEqual([
      'TOLLGATE_IDENTITY_URL: expected host:port, dns:///host:port or ipv4:host:port,host:port',
      'TOLLGATE_RABBITMQ_DEFAULT_VHOST_ACCOUNT: expected an account id (acc_…)',
      'TOLLGATE_SHARED_BROKER_NAMESPACE: expected account-prefix or none',
      'TOLLGATE_ACL_SUBSCRIBE_OVERLAP: expected filter or refuse',
      'TOLLGATE_GRPC_TLS_CERT and TOLLGATE_GRPC_TLS_KEY: set both or neither',
      "TOLLGATE_AUTHZ_HTTP_PORT: port 7200 is already TOLLGATE_AUTHZ_GRPC_PORT's (each port once)",
    ]);
  });
});

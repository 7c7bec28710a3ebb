import { describe, expect, it } from 'vitest';
import { ConfigError } from '#libs/config/index.ts';
import { loadIdentityConfig } from './config.ts';

const problemsOf = (env: Record<string, string>) => {
  try {
    loadIdentityConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
};

describe('identity config', () => {
  it('defaults: the well-known ports, 6 h access tokens, OWASP argon2, the lockout policy, no TLS, no peers', () => {
    const config = loadIdentityConfig({});
    expect({ grpc: config.grpcPort, http: config.httpPort }).toEqual({ grpc: 7101, http: 7100 });
    expect(config.accessTokenTtlMs).toBe(6 * 3_600_000);
    expect(config.issuer).toBeUndefined();
    expect(config.argon2).toEqual({ memoryCost: 19_456, timeCost: 2 });
    expect(config.lockout).toEqual({ maxFailures: 5, lockoutMs: 15 * 60_000, maxFailuresPerAddress: 20, distinctAddresses: 3 });
    expect(config.common.grpcTls).toEqual({ server: undefined, client: undefined });
    expect(config.common.peers).toEqual({});
    expect(config.common.host).toBe('127.0.0.1');
  });

  it('reads its settings and its peers', () => {
    const config = loadIdentityConfig({ TOLLGATE_ACCESS_TOKEN_TTL: '15m', TOLLGATE_JWT_ISSUER: 'https://id.example.com/t', TOLLGATE_LOGIN_LOCKOUT: '1h', TOLLGATE_AUTHZ_URL: 'authz:7201' });
    expect([config.accessTokenTtlMs, config.issuer, config.lockout.lockoutMs, config.common.peers]).toEqual([900_000, 'https://id.example.com/t', 3_600_000, { authz: 'authz:7201' }]);
  });

  it('reports every problem together, each naming its variable, the cross-field ones included', () => {
    const problems = problemsOf({
      TOLLGATE_IDENTITY_GRPC_PORT: '70000',
      TOLLGATE_ACCESS_TOKEN_TTL: 'soon',
      TOLLGATE_ARGON2_ITERATIONS: '0',
      TOLLGATE_GRPC_TLS_CERT: '/etc/tls/cert.pem',
      TOLLGATE_IDENTITY_HTTP_PORT: '7200',
      TOLLGATE_JWT_ISSUER: 'ftp://x',
    });
    expect(problems).toEqual([
      'TOLLGATE_IDENTITY_GRPC_PORT: expected a port number 0-65535',
      'TOLLGATE_ACCESS_TOKEN_TTL: expected a duration like 90s, 15m, 6h or 30d',
      'TOLLGATE_JWT_ISSUER: expected a http or https URL',
      'TOLLGATE_ARGON2_ITERATIONS: expected a positive whole number of iterations',
      'TOLLGATE_GRPC_TLS_CERT and TOLLGATE_GRPC_TLS_KEY: set both or neither',
    ]);
  });

  it('refuses one port for gRPC and HTTP (0, a free port each, may repeat)', () => {
    expect(problemsOf({ TOLLGATE_IDENTITY_GRPC_PORT: '9000', TOLLGATE_IDENTITY_HTTP_PORT: '9000' })).toEqual([
      "TOLLGATE_IDENTITY_HTTP_PORT: port 9000 is already TOLLGATE_IDENTITY_GRPC_PORT's (each port once)",
    ]);
    expect(loadIdentityConfig({ TOLLGATE_IDENTITY_GRPC_PORT: '0', TOLLGATE_IDENTITY_HTTP_PORT: '0' }).grpcPort).toBe(0);
  });
});

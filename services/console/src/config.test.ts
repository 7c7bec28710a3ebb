import { describe, expect, it } from 'vitest';
import { ConfigError } from '#libs/config/index.ts';
import { loadConsoleConfig } from './config.ts';

describe('console config', () => {
  it('defaults: port 7000, sessions of 30 min idle and 12 h at most', () => {
    expect(loadConsoleConfig({})).toMatchObject({ httpPort: 7000, sessionIdleMs: 1_800_000, sessionAbsoluteMs: 43_200_000 });
  });

  it('reads the services it calls and the client TLS it calls them with', () => {
    const config = loadConsoleConfig({ TOLLGATE_QUOTA_URL: 'dns:///quota.tollgate.svc:7301', TOLLGATE_GRPC_TLS_CERT: '/c', TOLLGATE_GRPC_TLS_KEY: '/k', TOLLGATE_GRPC_TLS_CA: '/ca' });
    expect(config.common.peers).toEqual({ quota: 'dns:///quota.tollgate.svc:7301' });
    expect(config.common.grpcTls.client).toEqual({ caFile: '/ca', certFile: '/c', keyFile: '/k' });
  });

  it('reports every problem together, the cross-field ones included', () => {
    let error: unknown;
    try {
      loadConsoleConfig({ TOLLGATE_CONSOLE_SESSION_IDLE: 'a while', TOLLGATE_CONSOLE_HTTP_PORT: '-1', TOLLGATE_GRPC_TLS_CERT: '/c' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'TOLLGATE_CONSOLE_HTTP_PORT: expected a port number 0-65535',
      'TOLLGATE_CONSOLE_SESSION_IDLE: expected a duration like 90s, 15m, 6h or 30d',
      'TOLLGATE_GRPC_TLS_CERT and TOLLGATE_GRPC_TLS_KEY: set both or neither',
    ]);
    expect((error as Error).message).toBe(`invalid configuration (3 problems): ${(error as ConfigError).problems.join('; ')}`);
  });
});

import { describe, expect, it } from 'vitest';
import { ConfigError } from '#libs/config/index.ts';
import { loadBrokerConfig } from './config.ts';

const problemsOf = (env: Record<string, string>) => {
  try {
    loadBrokerConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
};

describe('broker edge config', () => {
  it('defaults: the well-known ports, MQTTS off without a certificate, a single edge, the security limits', () => {
    const config = loadBrokerConfig({});
    expect({ grpc: config.grpcPort, http: config.httpPort, mqtt: config.mqtt }).toEqual({ grpc: 7401, http: 7400, mqtt: { port: 1883, tls: undefined, wsPort: 8083 } });
    expect(config.edge).toMatchObject({
      anonymousTokenId: undefined,
      authzStaleLimitMs: 300_000,
      authzDeadlineMs: 200,
      quotaDeadlineMs: 500,
      quotaFailOpen: true,
      maxFiltersPerSubscribe: 128,
      maxSubscriptionsPerSession: 10_000,
      maxRetainedPerAccount: 100_000,
      subscribeOverlap: 'filter',
      credentialThrottle: { maxFailuresPerAddress: 10, maxFailuresPerUsername: 5, backoffBaseMs: 1_000, backoffMaxMs: 300_000, windowMs: 600_000 },
      limits: { maxConnectBytes: 8_192, maxPendingConnectsPerIp: 64, connectTimeoutMs: 5_000, maxPacketSizeBytes: 1_048_576, maxKeepAliveSeconds: 0 },
      edgeId: undefined,
      cluster: undefined,
      traceSampleRatio: 0.001,
      decisionReportsPerSecond: 200,
    });
  });

  it('serves MQTTS with a certificate and key, and clusters over NATS when given a URL', () => {
    const config = loadBrokerConfig({ TOLLGATE_MQTT_TLS_CERT: '/tls/c.pem', TOLLGATE_MQTT_TLS_KEY: '/tls/k.pem', TOLLGATE_NATS_URL: 'nats://nats:4222', TOLLGATE_BROKER_EDGE_ID: 'edge-1' });
    expect(config.mqtt.tls).toEqual({ port: 8883, certFile: '/tls/c.pem', keyFile: '/tls/k.pem' });
    expect(config.edge.cluster).toMatchObject({ natsUrl: 'nats://nats:4222', name: 'tollgate', kvReplicas: 1 });
  });

  it('reports every problem together: bad values, a certificate without its key, two listeners on one port', () => {
    expect(
      problemsOf({
        TOLLGATE_MQTT_TLS_CERT: '/tls/c.pem',
        TOLLGATE_NATS_TLS_KEY: '/nats/k.pem',
        TOLLGATE_BROKER_MAX_PACKET_BYTES: '300000000',
        TOLLGATE_BROKER_QUOTA_FAIL_OPEN: 'perhaps',
        TOLLGATE_MQTT_WS_PORT: '1883',
      }),
    ).toEqual([
      'TOLLGATE_BROKER_QUOTA_FAIL_OPEN: expected true or false',
      'TOLLGATE_BROKER_MAX_PACKET_BYTES: expected at most 268435455 bytes (the MQTT maximum)',
      'TOLLGATE_MQTT_TLS_CERT and TOLLGATE_MQTT_TLS_KEY: set both or neither',
      'TOLLGATE_NATS_TLS_CERT and TOLLGATE_NATS_TLS_KEY: set both or neither',
      "TOLLGATE_MQTT_WS_PORT: port 1883 is already TOLLGATE_MQTT_PORT's (each port once)",
    ]);
  });

  it('the MQTTS port counts only when MQTTS is on', () => {
    expect(loadBrokerConfig({ TOLLGATE_MQTTS_PORT: '1883' }).mqtt.tls).toBeUndefined();
    expect(problemsOf({ TOLLGATE_MQTTS_PORT: '1883', TOLLGATE_MQTT_TLS_CERT: '/c', TOLLGATE_MQTT_TLS_KEY: '/k' })).toEqual(["TOLLGATE_MQTTS_PORT: port 1883 is already TOLLGATE_MQTT_PORT's (each port once)"]);
  });
});

import { defineConfig } from 'vitest/config';

/**
 * The broker's MQTT protocol suites that run a second time against two edges of one cluster (the
 * harness puts each new client on the next edge: publisher and subscriber on different edges).
 * The other broker suites are single-edge by nature (connect path, authentication, limits, input
 * handling of one connection) or clustered already (cluster*.test.ts).
 */
const brokerClusterSuites = [
  'services/broker/test/pubsub.test.ts',
  'services/broker/test/sessions.test.ts',
  'services/broker/test/topic-aliases.test.ts',
  'services/broker/test/retained-delivery.test.ts',
  'services/broker/test/subscribe-overlap.test.ts',
  'services/broker/test/mqtt31.test.ts',
  'services/broker/test/duplicate-properties.test.ts',
  'services/broker/test/auth-quota.test.ts',
  'services/broker/test/transports.test.ts',
];

export default defineConfig({
  test: {
    exclude: ['**/node_modules/**', 'test/bench/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Both cores: vitest's default leaves one idle on a 2-core machine (CI's), which doubles the run.
    maxWorkers: 2,
    reporters: ['default', './test/harness/summary-reporter.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'tollgate',
          include: ['libs/**/*.test.ts', 'services/**/*.test.ts', 'cli/**/*.test.ts', 'test/**/*.test.ts'],
          globalSetup: ['test/harness/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'broker-cluster',
          include: brokerClusterSuites,
          globalSetup: ['test/harness/cluster-nats-setup.ts'],
          // The setup's URL reaches every project's workers; this marks the ones that use it.
          env: { TOLLGATE_TEST_BROKER_EDGES: '2' },
        },
      },
    ],
  },
});

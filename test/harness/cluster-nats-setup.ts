import { startNatsNode } from './nats-node.ts';

/**
 * Global setup of the `broker-cluster` project: one private nats-server (JetStream in a temp dir, a
 * free port — never the machine's own) for the run; each broker pair the harness starts names its
 * own cluster (own subjects and buckets). Workers read its URL from TOLLGATE_TEST_BROKER_NATS_URL.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const nats = await startNatsNode();
  process.env.TOLLGATE_TEST_BROKER_NATS_URL = nats.url;
  return async () => {
    delete process.env.TOLLGATE_TEST_BROKER_NATS_URL;
    await nats.destroy();
  };
}

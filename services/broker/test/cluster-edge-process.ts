/**
 * A clustered broker edge as its own OS process (for tests that kill an edge with SIGKILL):
 *   node cluster-edge-process.ts <nats url> <cluster> <edge id>
 * Sends `{ port }` over IPC once it serves MQTT (users of the test harness).
 */
import pino from 'pino';
import { NatsCluster } from '../src/cluster/nats-cluster.ts';
import { startBroker } from './harness.ts';

const [url, cluster, edgeId] = process.argv.slice(2) as [string, string, string];
const nats = new NatsCluster({ url, cluster, edgeId, logger: pino({ level: 'warn' }), persistDelayMs: 20, livenessIntervalMs: 200 });
const edge = await startBroker({ cluster: nats });
await nats.start();
process.send!({ port: edge.port });

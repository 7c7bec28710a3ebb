/**
 * Two broker edges in one process, one cluster over a private nats-server (JetStream in a temp
 * dir), real MQTT.js clients on different edges.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect as natsConnect } from '@nats-io/transport-node';
import { silentLogger } from '#libs/telemetry/index.ts';
import { startNatsNode, type NatsNode } from '../../../test/harness/nats-node.ts';
import { NatsCluster } from '../src/cluster/nats-cluster.ts';
import { encodeClusterMessage } from '../src/cluster/cluster-message.ts';
import { encodeLevel, topicToTokens } from '../src/cluster/subject-codec.ts';
import { collect, startBroker, waitFor, type TestBroker } from './harness.ts';

let nats: NatsNode;
beforeAll(async () => {
  nats = await startNatsNode();
});
afterAll(async () => {
  await nats?.destroy();
});

interface Edge extends TestBroker {
  cluster: NatsCluster;
}

const open: Edge[] = [];
let clusterSeq = 0;
/** Each test gets its own cluster name: its own subjects and retained bucket. */
let clusterName = '';
afterEach(async () => {
  for (const e of open.splice(0)) {
    await e.close();
    await e.cluster.stop();
  }
  clusterName = '';
});

async function startEdge(name: string, opts: { cluster?: string } = {}): Promise<Edge> {
  clusterName ||= `t${process.pid}x${++clusterSeq}`;
  const cluster = new NatsCluster({ url: nats.url, cluster: opts.cluster ?? clusterName, edgeId: name, logger: silentLogger(), adminTimeoutMs: 300 });
  const tb = await startBroker({ cluster });
  await cluster.start();
  const edge = Object.assign(tb, { cluster });
  open.push(edge);
  return edge;
}

/** Publishes `sentinel` after `body` and waits for it: what came before it is all that will come. */
async function settle(pub: import('mqtt').MqttClient, got: { payload: string }[], topic: string): Promise<void> {
  const mark = `sentinel-${Math.random()}`;
  await pub.publishAsync(topic, mark, { qos: 1 });
  await waitFor(() => got.some((g) => g.payload === mark), 5_000);
}

describe('cluster: routing by interest', () => {
  it.each([4, 5] as const)('a publish on edge 2 reaches a subscriber on edge 1 at QoS 0/1/2, downgraded to the granted QoS (v%i)', async (protocolVersion) => {
    const e1 = await startEdge('e1');
    const e2 = await startEdge('e2');
    const sub = await e1.connect({ protocolVersion, clientId: 'sub' });
    const got = collect(sub);
    await sub.subscribeAsync('a/#', { qos: 2 });
    await sub.subscribeAsync('low/+', { qos: 0 });
    const pub = await e2.connect({ protocolVersion, clientId: 'pub' });
    await pub.publishAsync('a/0', 'zero', { qos: 0 });
    await pub.publishAsync('a/1', 'one', { qos: 1 });
    await pub.publishAsync('a/2', 'two', { qos: 2 });
    await pub.publishAsync('low/x', 'down', { qos: 2 });
    await pub.publishAsync('a', 'parent', { qos: 1 });
    await waitFor(() => got.length === 5, 5_000);
    expect(got.map((g) => [g.topic, g.payload, g.packet.qos])).toEqual([
      ['a/0', 'zero', 0],
      ['a/1', 'one', 1],
      ['a/2', 'two', 2],
      ['low/x', 'down', 0],
      ['a', 'parent', 1],
    ]);
  });

  it('v5 properties cross edges: user properties, content type, correlation data, remaining expiry; subscription ids and Retain As Published of the receiving edge', async () => {
    const e1 = await startEdge('e1');
    const e2 = await startEdge('e2');
    const sub = await e1.connect({ protocolVersion: 5, clientId: 'sub' });
    const got = collect(sub);
    await sub.subscribeAsync('p/#', { qos: 1, rap: true, properties: { subscriptionIdentifier: 42 } });
    const pub = await e2.connect({ protocolVersion: 5, clientId: 'pub' });
    await pub.publishAsync('p/1', 'body', {
      qos: 1,
      retain: true,
      properties: {
        userProperties: { k: 'v', multi: ['1', '2'] },
        contentType: 'text/plain',
        correlationData: Buffer.from([0, 1, 2, 255]),
        responseTopic: 'reply/here',
        payloadFormatIndicator: true,
        messageExpiryInterval: 60,
      },
    });
    await waitFor(() => got.length === 1, 5_000);
    const p = got[0]!.packet;
    expect(p.retain).toBe(true);
    expect(p.properties?.userProperties).toEqual({ k: 'v', multi: ['1', '2'] });
    expect(p.properties?.contentType).toBe('text/plain');
    expect(Buffer.from(p.properties!.correlationData!)).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(p.properties?.responseTopic).toBe('reply/here');
    expect(p.properties?.payloadFormatIndicator).toBe(true);
    expect(p.properties?.messageExpiryInterval).toBeGreaterThanOrEqual(59);
    expect(p.properties?.messageExpiryInterval).toBeLessThanOrEqual(60);
    expect(p.properties?.subscriptionIdentifier).toBe(42);
  });

  it('once per subscription: overlapping filters on one edge (two NATS subscriptions) deliver once; accounts stay apart', async () => {
    const e1 = await startEdge('e1');
    const e2 = await startEdge('e2');
    const sub = await e1.connect({ protocolVersion: 5, clientId: 'sub' });
    const got = collect(sub);
    await sub.subscribeAsync({ 'o/#': { qos: 0 }, 'o/+': { qos: 1 }, 'o/x': { qos: 2 } });
    const other = await e1.connect({ clientId: 'other' });
    const gotOther = collect(other);
    await other.subscribeAsync('o/x', { qos: 1 });
    const bob = await e1.connect({ clientId: 'bob', username: 'bob', password: 'pw-b' });
    const gotBob = collect(bob);
    await bob.subscribeAsync('#');
    const pub = await e2.connect({ protocolVersion: 5, clientId: 'pub' });
    await pub.publishAsync('o/x', 'once', { qos: 2 });
    await settle(pub, got, 'o/end');
    expect(got.map((g) => [g.payload, g.packet.qos])).toEqual([['once', 2], [got.at(-1)!.payload, 1]]);
    await waitFor(() => gotOther.length === 1, 5_000);
    // Bob's account never sees acc_a's messages; his own account's sentinel proves he was listening.
    const bobPub = await e2.connect({ clientId: 'bob-pub', username: 'bob', password: 'pw-b' });
    await settle(bobPub, gotBob, 'b/end');
    expect(gotBob).toHaveLength(1);
  });

  it('unsubscribing the last local subscriber removes the NATS interest: the edge no longer receives', async () => {
    const e1 = await startEdge('e1');
    const e2 = await startEdge('e2');
    const s1 = await e1.connect({ clientId: 's1' });
    const s2 = await e1.connect({ clientId: 's2' });
    await s1.subscribeAsync('u/1');
    await s2.subscribeAsync('u/1');
    const pub = await e2.connect({ clientId: 'pub' });
    const got2 = collect(s2);
    await pub.publishAsync('u/1', 'both', { qos: 1 });
    await waitFor(() => got2.length === 1, 5_000);
    await s1.unsubscribeAsync('u/1');
    const received = e1.cluster.counters.get('received') ?? 0;
    await pub.publishAsync('u/1', 'still-s2', { qos: 1 });
    await waitFor(() => got2.length === 2, 5_000);
    await s2.unsubscribeAsync('u/1');
    // A sentinel subscription on another filter: once its message is in, u/1 would have been too.
    const s3 = await e1.connect({ clientId: 's3' });
    const got3 = collect(s3);
    await s3.subscribeAsync('u/sentinel');
    const before = e1.cluster.counters.get('received') ?? 0;
    await pub.publishAsync('u/1', 'nobody', { qos: 1 });
    await settle(pub, got3, 'u/sentinel');
    expect(before).toBe(received + 1);
    expect(e1.cluster.counters.get('received')).toBe(before + 1);
  });
});

/**
 * Two broker edges in one process, one cluster over a private nats-server (JetStream in a temp
 * dir), real MQTT.js clients on different edges.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect as natsConnect } from '@nats-io/transport-node';
import mqtt from 'mqtt';
import pino from 'pino';
import { startNatsNode, type NatsNode } from '../../../test/harness/nats-node.ts';
import { NatsCluster } from '../src/cluster/nats-cluster.ts';
import { decodeClusterMessage, encodeClusterMessage } from '../src/cluster/cluster-message.ts';
import { Kvm } from '@nats-io/kv';
import mqttPacket from 'mqtt-packet';
import { encodeLevel, topicToTokens } from '../src/cluster/subject-codec.ts';
import { createEdgeAdmin } from '../src/cluster/edge-admin.ts';
import { collect, RawClient, sendInOneWrite, startBroker, waitFor, type TestBroker } from './harness.ts';

let nats: NatsNode;
beforeAll(async () => {
  nats = await startNatsNode();
});
afterAll(async () => {
  await nats?.destroy();
});

interface Edge extends TestBroker {
  cluster: NatsCluster;
  /** What the edge logged at warn level and above. */
  warnings: string[];
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

async function startEdge(name: string, opts: { cluster?: string; url?: string; startTimeoutMs?: number } = {}): Promise<Edge> {
  clusterName ||= `t${process.pid}x${++clusterSeq}`;
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  const cluster = new NatsCluster({ url: opts.url ?? nats.url, cluster: opts.cluster ?? clusterName, edgeId: name, logger, adminTimeoutMs: 300, ...(opts.startTimeoutMs !== undefined ? { startTimeoutMs: opts.startTimeoutMs } : {}) });
  const tb = await startBroker({ cluster });
  cluster.serveAdmin(createEdgeAdmin(tb.broker, tb.metrics, name));
  await cluster.start();
  const edge = Object.assign(tb, { cluster, warnings });
  open.push(edge);
  return edge;
}

/**
 * Publishes a sentinel and waits for it: what came before it is all that will come. The sentinel
 * must reach the subscriber at the QoS of what it guards: MQTT.js emits a QoS 2 message at PUBREL,
 * after QoS 0/1 messages that arrived later.
 */
async function settle(pub: import('mqtt').MqttClient, got: { payload: string }[], topic: string, qos: 0 | 1 | 2 = 1): Promise<void> {
  const mark = `sentinel-${Math.random()}`;
  await pub.publishAsync(topic, mark, { qos });
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
    // Sorted: MQTT.js emits a QoS 2 message at PUBREL, so the QoS 0/1 ones the publisher sent after it
    // (its PUBCOMP comes from edge 2, not from this subscriber) may be emitted first; MQTT orders per topic and QoS.
    expect(got.map((g) => [g.topic, g.payload, g.packet.qos]).sort()).toEqual([
      ['a', 'parent', 1],
      ['a/0', 'zero', 0],
      ['a/1', 'one', 1],
      ['a/2', 'two', 2],
      ['low/x', 'down', 0],
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
    await settle(pub, got, 'o/x', 2);
    expect(got.map((g) => [g.payload, g.packet.qos])).toEqual([['once', 2], [got.at(-1)!.payload, 2]]);
    await waitFor(() => gotOther.length === 2, 5_000);
    // Bob's account never sees acc_a's messages; his own account's sentinel proves he was listening.
    const bobPub = await e2.connect({ clientId: 'bob-pub', username: 'bob', password: 'pw-b' });
    await settle(bobPub, gotBob, 'b/end');
    expect(gotBob).toHaveLength(1);
  });

  it('a SUBACK means the subscription holds cluster-wide: a publish on another edge right after it is delivered', async () => {
    const e1 = await startEdge('e1');
    const e2 = await startEdge('e2');
    const sub = await e1.connect({ clientId: 'sub' });
    const got = collect(sub);
    const pub = await e2.connect({ clientId: 'pub' });
    for (let i = 0; i < 30; i++) {
      await sub.subscribeAsync(`race/${i}`, { qos: 1 });
      await pub.publishAsync(`race/${i}`, String(i), { qos: 1 });
    }
    await waitFor(() => got.length === 30, 5_000);
    expect(got.map((g) => g.payload)).toEqual(Array.from({ length: 30 }, (_, i) => String(i)));
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

describe('cluster: what cannot cross stays on its edge', () => {
  it('a message over the NATS max_payload is delivered locally and acknowledged; the edge keeps forwarding the next ones', async () => {
    const e1 = await startEdge('e1');
    const e2 = await startEdge('e2');
    const local = await e1.connect({ clientId: 'local' });
    const gotLocal = collect(local);
    await local.subscribeAsync('big/#', { qos: 1 });
    const far = await e2.connect({ clientId: 'far' });
    const gotFar = collect(far);
    await far.subscribeAsync('big/#', { qos: 1 });
    // A shared group of this edge gets it too (local routing had left groups to NATS).
    const member = await e1.connect({ clientId: 'member' });
    const gotMember = collect(member);
    await member.subscribeAsync('$share/g/big/#', { qos: 1 });
    const pub = await e1.connect({ clientId: 'pub' });
    // Under our Maximum Packet Size (1 MiB), over NATS's max_payload (1 MiB) once the frame header is added.
    const big = Buffer.alloc(1_048_540, 0x62);
    await pub.publishAsync('big/1', big, { qos: 1 });
    await waitFor(() => gotLocal.length === 1, 5_000);
    expect(gotLocal[0]!.payload.length).toBe(big.length);
    expect(e1.cluster.counters.get('too_large')).toBe(1);
    await waitFor(() => gotMember.length === 1, 5_000);
    expect(gotMember[0]!.payload.length).toBe(big.length);
    await settle(pub, gotFar, 'big/after');
    expect(gotFar.map((g) => g.topic)).toEqual(['big/after']);
    expect(pub.connected).toBe(true);
  });
});

describe('cluster: a message with no remote subscriber never leaves its edge', () => {
  it('is not published to NATS until another edge subscribes, and again not once it unsubscribed', async () => {
    const e1 = await startEdge('e1');
    const e2 = await startEdge('e2');
    // What goes over NATS, seen by a plain NATS subscriber (not an edge: it declares no interest).
    const nc = await natsConnect({ servers: nats.url });
    const onWire: string[] = [];
    nc.subscribe(`${clusterName}.msg.>`, { callback: (_err, msg) => void onWire.push(msg.subject.split('.').slice(3).join('/')) });
    await nc.flush();
    try {
      const watcher = await e2.connect({ clientId: 'watcher' });
      const watched = collect(watcher);
      await watcher.subscribeAsync('sentinel/#', { qos: 1 });
      const pub = await e1.connect({ clientId: 'pub', protocolVersion: 5 });
      // A local subscriber on e1 only: local delivery as always, nothing to NATS.
      const local = await e1.connect({ clientId: 'local' });
      const gotLocal = collect(local);
      await local.subscribeAsync('lonely/#', { qos: 1 });
      await pub.publishAsync('lonely/1', 'stays', { qos: 1 });
      await settle(pub, watched, 'sentinel/1');
      await waitFor(() => onWire.includes('sentinel/1'), 5_000);
      expect(onWire).not.toContain('lonely/1');
      expect(gotLocal.map((g) => g.payload)).toEqual(['stays']);
      expect(e1.cluster.counters.get('no_remote_interest')).toBeGreaterThanOrEqual(1);

      // Another edge subscribes: once its SUBACK is out, e1 publishes what matches.
      const far = await e2.connect({ clientId: 'far' });
      const gotFar = collect(far);
      await far.subscribeAsync('lonely/+', { qos: 1 });
      await pub.publishAsync('lonely/2', 'crosses', { qos: 1 });
      await waitFor(() => gotFar.length === 1, 5_000);
      expect(gotFar[0]!.payload).toBe('crosses');

      // It unsubscribes: e1 learns it (asynchronously) and keeps its messages again.
      await far.unsubscribeAsync('lonely/+');
      for (let kept = false, tries = 0; !kept; tries++) {
        expect(tries).toBeLessThan(200);
        const before = e1.cluster.counters.get('no_remote_interest') ?? 0;
        await pub.publishAsync('lonely/3', 'stays-again', { qos: 1 }); // PUBACK: e1 has decided
        kept = (e1.cluster.counters.get('no_remote_interest') ?? 0) > before;
      }
      onWire.length = 0;
      await pub.publishAsync('lonely/4', 'stays-too', { qos: 1 });
      await settle(pub, watched, 'sentinel/2');
      await waitFor(() => onWire.includes('sentinel/2'), 5_000);
      expect(onWire).toEqual(['sentinel/2']);
    } finally {
      await nc.close();
    }
  });

  it('an edge that joins later learns the interest already there', async () => {
    const e1 = await startEdge('e1');
    const sub = await e1.connect({ clientId: 'early' });
    const got = collect(sub);
    await sub.subscribeAsync('early/#', { qos: 1 });
    const e2 = await startEdge('e2');
    const pub = await e2.connect({ clientId: 'pub' });
    await pub.publishAsync('early/1', 'reaches', { qos: 1 });
    await waitFor(() => got.length === 1, 5_000);
    expect(got[0]!.payload).toBe('reaches');
  });
});

describe('cluster: frames that are not an edge\'s', () => {
  it('are dropped and counted; the edge goes on routing', async () => {
    const e1 = await startEdge('e1');
    const e2 = await startEdge('e2');
    const sub = await e1.connect({ clientId: 'sub' });
    const got = collect(sub);
    await sub.subscribeAsync('g/#', { qos: 1 });
    const nc = await natsConnect({ servers: nats.url });
    for (const junk of [Buffer.alloc(0), Buffer.from('hello'), Buffer.from([0, 0, 0, 2, 0x7b, 0x7d])]) nc.publish(`${clusterName}.msg.${encodeLevel('acc_a')}.${topicToTokens('g/1')}`, junk);
    await nc.flush();
    await nc.close();
    const pub = await e2.connect({ clientId: 'pub' });
    await settle(pub, got, 'g/2');
    expect(got.map((g) => g.topic)).toEqual(['g/2']);
    expect(e1.cluster.counters.get('undecodable')).toBe(3);
  });
});

describe('cluster: shared subscriptions balanced cluster-wide', () => {
  it('[MQTT-4.8.2] members on two edges: each message reaches exactly one member in the cluster; a plain subscriber gets every one', async () => {
    const e1 = await startEdge('e1');
    const e2 = await startEdge('e2');
    const m1 = await e1.connect({ protocolVersion: 5, clientId: 'm1' });
    const m2 = await e2.connect({ protocolVersion: 5, clientId: 'm2' });
    const got1 = collect(m1);
    const got2 = collect(m2);
    await m1.subscribeAsync('$share/g/s/#', { qos: 1 });
    await m2.subscribeAsync('$share/g/s/#', { qos: 1 });
    const plain = await e1.connect({ clientId: 'plain' });
    const gotPlain = collect(plain);
    await plain.subscribeAsync('s/#', { qos: 1 });
    const pub = await e2.connect({ clientId: 'pub' });
    for (let i = 0; i < 40; i++) await pub.publishAsync(`s/${i % 3}`, String(i), { qos: 1 });
    await waitFor(() => gotPlain.length === 40, 10_000);
    // Sentinels on the group's own path until each member has one: the copies NATS picked it for
    // before them have all arrived (one queue subscription per edge keeps the publisher's order).
    const deadline = Date.now() + 10_000;
    for (let k = 0; !got1.some((g) => g.payload.startsWith('end')) || !got2.some((g) => g.payload.startsWith('end')); k++) {
      if (Date.now() > deadline) throw new Error('sentinels did not reach both members');
      await pub.publishAsync('s/end', `end${k}`, { qos: 1 });
    }
    const shared = [...got1, ...got2].map((g) => g.payload).filter((p) => !p.startsWith('end'));
    expect(shared.map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(got1.length).toBeGreaterThan(1);
    expect(got2.length).toBeGreaterThan(1);
  });

  it('members on one edge only, publisher on the other: round-robin among them, none lost', async () => {
    const e1 = await startEdge('e1');
    const e2 = await startEdge('e2');
    const a = await e1.connect({ clientId: 'a' });
    const b = await e1.connect({ clientId: 'b' });
    const gotA = collect(a);
    const gotB = collect(b);
    await a.subscribeAsync('$share/w/jobs/+', { qos: 1 });
    await b.subscribeAsync('$share/w/jobs/+', { qos: 1 });
    const pub = await e2.connect({ clientId: 'pub' });
    for (let i = 0; i < 10; i++) await pub.publishAsync('jobs/x', String(i), { qos: 1 });
    await waitFor(() => gotA.length + gotB.length === 10, 5_000);
    expect(gotA.map((g) => g.payload)).toEqual(['0', '2', '4', '6', '8']);
    expect(gotB.map((g) => g.payload)).toEqual(['1', '3', '5', '7', '9']);
  });
});

describe('cluster: NATS wildcard semantics of the mapped filters', () => {
  it('a real nats-server delivers a mapped topic to a mapped filter exactly when MQTT matches (the $ rule is left to the edge)', async () => {
    const fc = (await import('fast-check')).default;
    const { topicMatches } = await import('#libs/topics/topic-filter.ts');
    const { filterToTokenPatterns } = await import('../src/cluster/subject-codec.ts');
    const nc = await natsConnect({ servers: nats.url });
    try {
      const lvl = fc.constantFrom('a', 'b', '', '$x', 'a.b', ' ', '*', '>', 'é');
      // [MQTT-4.7.3-1] a topic name is at least one character.
      const topicArb = fc.array(lvl, { minLength: 1, maxLength: 4 }).map((l) => l.join('/')).filter((t) => t.length > 0);
      const filterArb = fc.array(fc.oneof(lvl, fc.constant('+')), { minLength: 0, maxLength: 3 }).chain((l) =>
        fc.boolean().map((hash) => (hash ? [...l, '#'] : l.length === 0 ? ['+'] : l).join('/')),
      );
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.uniqueArray(filterArb, { minLength: 1, maxLength: 6 }), fc.uniqueArray(topicArb, { minLength: 1, maxLength: 12 }), async (filters, topics) => {
          const prefix = `wild${run++}`;
          const delivered = new Set<string>();
          const subs = filters.flatMap((f, i) => filterToTokenPatterns(f).map((p) => nc.subscribe(`${prefix}.${p}`, { callback: (_e, m) => void delivered.add(`${i}|${m.string()}`) })));
          await nc.flush();
          for (const t of topics) nc.publish(`${prefix}.${topicToTokens(t)}`, t);
          await nc.flush();
          for (const s of subs) s.unsubscribe();
          filters.forEach((f, i) => {
            for (const t of topics) {
              const mqtt = topicMatches(f, t);
              // [MQTT-4.7.2-1] NATS does not know the `$` rule: a leading wildcard gets `$` topics too; the edge's trie drops them.
              const expected = mqtt || (t.startsWith('$') && topicMatches(f, `x${t}`) && (f.startsWith('+') || f.startsWith('#')));
              expect(delivered.has(`${i}|${t}`), `filter ${JSON.stringify(f)} topic ${JSON.stringify(t)}`).toBe(expected);
            }
          });
        }),
        { numRuns: 40 },
      );
    } finally {
      await nc.close();
    }
  });
});

describe('cluster: No Local by client, cluster-wide', () => {
  it('[MQTT-3.8.3-3] a client never gets its own message back from another edge; others do', async () => {
    const e1 = await startEdge('e1');
    const e2 = await startEdge('e2');
    const me = await e1.connect({ protocolVersion: 5, clientId: 'me' });
    const gotMe = collect(me);
    await me.subscribeAsync('n/#', { qos: 1, nl: true });
    const other = await e1.connect({ protocolVersion: 5, clientId: 'other' });
    const gotOther = collect(other);
    await other.subscribeAsync('n/#', { qos: 1, nl: true });
    const far = await e2.connect({ protocolVersion: 5, clientId: 'far' });
    const gotFar = collect(far);
    await far.subscribeAsync('n/#', { qos: 1, nl: true });
    // `me` publishes on edge 1: local No Local as before, and edge 2 delivers to `far`.
    await me.publishAsync('n/1', 'from-me', { qos: 1 });
    await waitFor(() => gotFar.length === 1 && gotOther.length === 1, 5_000);
    // A frame from another edge saying client `me` published (its session lives on edge 1 too, e.g.
    // right before a takeover): edge 1 must not deliver it to `me`, but to `other`.
    const nc = await natsConnect({ servers: nats.url });
    const frame = encodeClusterMessage({ origin: 'elsewhere/1', seq: 1, account: 'acc_a', clientId: 'me', message: { topic: 'n/2', payload: Buffer.from('me-elsewhere'), qos: 1, retain: false, properties: undefined, expiresAtMs: undefined } }, Date.now());
    nc.publish(`${clusterName}.msg.${encodeLevel('acc_a')}.${topicToTokens('n/2')}`, frame);
    await nc.flush();
    await nc.close();
    await waitFor(() => gotOther.length === 2, 5_000);
    // The sentinel from `far` reaches `me`: everything before it has arrived.
    await settle(far, gotMe, 'n/3');
    expect(gotMe.map((g) => g.payload)).toEqual([gotMe.at(-1)!.payload]);
    expect(gotOther.map((g) => g.payload).slice(0, 2)).toEqual(['from-me', 'me-elsewhere']);
  });
});

describe('cluster: retained messages in JetStream', () => {
  it('a late subscriber on another edge gets them; an empty payload deletes them everywhere; they survive both edges restarting', async () => {
    let e1 = await startEdge('e1');
    let e2 = await startEdge('e2');
    const pub = await e1.connect({ protocolVersion: 5, clientId: 'pub' });
    await pub.publishAsync('r/keep', 'kept', { qos: 1, retain: true, properties: { userProperties: { u: '1' } } });
    await pub.publishAsync('r/gone', 'to-delete', { qos: 1, retain: true });
    const late = await e2.connect({ protocolVersion: 5, clientId: 'late' });
    const got = collect(late);
    // Replication to edge 2's mirror takes a few ms after the PUBACK.
    await waitFor(() => retainedCount(e2, 'r/#') === 2, 5_000);
    await late.subscribeAsync('r/#', { qos: 1 });
    await waitFor(() => got.length === 2, 5_000);
    expect(got.map((g) => [g.topic, g.payload, g.packet.retain]).sort()).toEqual([
      ['r/gone', 'to-delete', true],
      ['r/keep', 'kept', true],
    ]);
    expect(got.find((g) => g.topic === 'r/keep')!.packet.properties?.userProperties).toEqual({ u: '1' });
    // Deleted from edge 2 this time.
    await late.publishAsync('r/gone', '', { qos: 1, retain: true });
    await waitFor(() => retainedCount(e1, 'r/#') === 1, 5_000);

    // Both edges go; two new ones start on the same cluster.
    const name = clusterName;
    for (const e of open.splice(0)) {
      await e.close();
      await e.cluster.stop();
    }
    e1 = await startEdge('e1b', { cluster: name });
    e2 = await startEdge('e2b', { cluster: name });
    const fresh = await e2.connect({ clientId: 'fresh' });
    const gotFresh = collect(fresh);
    await fresh.subscribeAsync('r/#', { qos: 1 });
    await waitFor(() => gotFresh.length === 1, 5_000);
    const sentinelPub = await e1.connect({ clientId: 'sp' });
    await settle(sentinelPub, gotFresh, 'r/sentinel');
    expect(gotFresh.map((g) => [g.topic, g.payload])).toEqual([
      ['r/keep', 'kept'],
      ['r/sentinel', gotFresh.at(-1)!.payload],
    ]);
  });
});

describe('cluster: retained writes against the watch', () => {
  /** What `edge` holds for `topic` (acc_a) after every change its store goes through. */
  function follow(edge: Edge, topic: string): (string | undefined)[] {
    const seen: (string | undefined)[] = [];
    const core = edge.cluster.core!;
    const retain = core.retain.bind(core);
    core.retain = (account, message) => {
      const stored = retain(account, message);
      if (account === 'acc_a' && message.topic === topic) seen.push(retainedValue(edge, topic));
      return stored;
    };
    return seen;
  }

  const retained = (topic: string, payload: string, messageId: number): Buffer =>
    mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: true, dup: false, messageId });

  it('stored and deleted in one write: the echo of the store never brings the topic back on that edge', async () => {
    const e1 = await startEdge('e1');
    const e2 = await startEdge('e2');
    const on1 = follow(e1, 'o/k');
    const on2 = follow(e2, 'o/k');
    // Both land in the edge's store before the first write reaches the bucket: its echo comes after the delete.
    await sendInOneWrite(e1.port, 'both', [retained('o/k', 'a', 1), retained('o/k', '', 2)]);
    // Edge 2 followed the bucket through both writes; its sentinel, written after them, reaching
    // edge 1 means edge 1's watch has passed both echoes.
    await waitFor(() => on2.length === 2, 5_000);
    expect(on2).toEqual(['a', undefined]);
    const sp = await e2.connect({ clientId: 'sentinel' });
    await sp.publishAsync('o/sentinel', 's', { qos: 1, retain: true });
    await waitFor(() => retainedValue(e1, 'o/sentinel') === 's', 5_000);
    expect(on1).toEqual(['a', undefined]);
  });

  it('the same topic written on two edges at once: both edges end with the bucket’s last value', async () => {
    const e1 = await startEdge('e1');
    const e2 = await startEdge('e2');
    const topic = 'o/race';
    for (let round = 0; round < 20; round++) {
      const frames = (edge: string): Buffer[] =>
        Array.from({ length: 30 }, (_, i) => retained(topic, i % 7 === 6 ? '' : `${edge}-${round}-${i}`, i + 1));
      await Promise.all([sendInOneWrite(e1.port, 'w1', frames('e1')), sendInOneWrite(e2.port, 'w2', frames('e2'))]);
      await waitFor(() => e1.cluster.retainedWritesOutstanding === 0 && e2.cluster.retainedWritesOutstanding === 0, 10_000);
      const last = await bucketValue(topic);
      await waitFor(() => retainedValue(e1, topic) === last && retainedValue(e2, topic) === last, 5_000);
    }
  });
});

describe('cluster: the retained set against live messages', () => {
  it('a retained value routed live before this edge’s store has it (a message from another edge, ahead of the mirror) is not followed by the stored older one', async () => {
    const e1 = await startEdge('e1');
    const seed = await e1.connect({ clientId: 'seed' });
    for (let i = 0; i < 20; i++) await seed.publishAsync(`t/${i}`, i === 19 ? 'old' : `v${i}`, { qos: 1, retain: true });
    // A subscriber taking the retained set one message at a time (Receive Maximum 1).
    const r = new RawClient(e1.port, 5);
    await r.ready();
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'slow', clean: true, keepalive: 0, username: 'alice', password: Buffer.from('pw-a'), properties: { receiveMaximum: 1 } });
    await r.next('connack');
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 't/#', qos: 1 }] });
    await r.next('suback');
    const got: string[] = [];
    const first = (await r.next('publish')) as { topic: string; payload: Buffer; messageId: number };
    got.push(`${first.topic}=${first.payload.toString()}`);
    // What the cluster does with another edge's retained PUBLISH: routed at once; the store gets it
    // later, from the bucket.
    const routed = e1.cluster.core!.route('acc_a', { topic: 't/19', payload: Buffer.from('new'), qos: 1, retain: true, properties: undefined, expiresAtMs: undefined }, undefined);
    expect(routed).toBe(1);
    let last = first.messageId;
    // The set is 20 messages: t/19 once, as 'new'. The PINGRESP after the last PUBACK comes after
    // anything that PUBACK let the edge send (it draws the retained set as it handles it).
    while (got.length < 20) {
      r.send({ cmd: 'puback', messageId: last });
      const p = (await r.next('publish')) as { topic: string; payload: Buffer; messageId: number };
      got.push(`${p.topic}=${p.payload.toString()}`);
      last = p.messageId;
    }
    r.send({ cmd: 'puback', messageId: last });
    r.send({ cmd: 'pingreq' });
    await r.next('pingresp');
    const after = r.packets.filter((x) => x.cmd === 'publish').map((x) => `${(x as { topic: string }).topic}=${String((x as { payload: Buffer }).payload)}`);
    r.close();
    expect(after).toEqual([]);
    expect(got.filter((g) => g.startsWith('t/19='))).toEqual(['t/19=new']);
    expect(new Set(got).size).toBe(20);
  });
});

describe('cluster: client ids are cluster-wide', () => {
  it('[MQTT-3.1.4-3] a CONNECT on edge 2 with a client id connected on edge 1 takes it over: edge 1 sends DISCONNECT 0x8E and drops its session', async () => {
    const e1 = await startEdge('e1');
    const e2 = await startEdge('e2');
    const first = await e1.connect({ protocolVersion: 5, clientId: 'dup', clean: false, properties: { sessionExpiryInterval: 300 } });
    await first.subscribeAsync('d/#', { qos: 1 });
    const disconnected = new Promise<number | undefined>((resolve) => first.once('disconnect', (p) => resolve(p.reasonCode)));
    const second = await e2.connect({ protocolVersion: 5, clientId: 'dup', clean: false, properties: { sessionExpiryInterval: 300 } });
    expect(await disconnected).toBe(0x8e);
    await waitFor(() => e1.broker.stats().sessions === 0, 5_000);
    expect(second.connected).toBe(true);
    expect(e2.broker.clients().map((c) => c.clientId)).toEqual(['dup']);
  });
});

describe('cluster: persistent sessions move between edges', () => {
  it('[MQTT-4.1] reconnecting to another edge resumes the session there: Session Present, its subscriptions, the QoS 1 messages queued while away', async () => {
    const e1 = await startEdge('e1');
    const e2 = await startEdge('e2');
    const v5 = { protocolVersion: 5 as const, clientId: 'mover', clean: false, properties: { sessionExpiryInterval: 300 } };
    const first = await e1.connect(v5);
    await first.subscribeAsync('mv/#', { qos: 1, properties: { subscriptionIdentifier: 5 } });
    await first.endAsync();
    const pub = await e2.connect({ clientId: 'pub' });
    for (let i = 1; i <= 3; i++) await pub.publishAsync(`mv/${i}`, `queued-${i}`, { qos: 1 });
    const key = 'acc_a\u0000mover';
    await waitFor(() => e1.cluster.core!.sessions.get(key)?.queue.length === 3, 5_000);

    const got: import('./harness.ts').Received[] = [];
    const client = mqtt.connect({ host: '127.0.0.1', port: e2.port, username: 'alice', password: 'pw-a', reconnectPeriod: 0, ...v5 });
    client.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), packet: packet as never }));
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      client.once('connect', (p) => resolve(p));
      client.once('error', reject);
    });
    try {
      expect(connack.sessionPresent).toBe(true);
      await waitFor(() => got.length === 3, 5_000);
      expect(got.map((g) => [g.topic, g.payload, g.packet.properties?.subscriptionIdentifier])).toEqual([
        ['mv/1', 'queued-1', 5],
        ['mv/2', 'queued-2', 5],
        ['mv/3', 'queued-3', 5],
      ]);
      expect(e1.broker.stats().sessions).toBe(0);
      // The subscription lives on edge 2 now: a publish on edge 1 reaches it through NATS.
      const p1 = await e1.connect({ clientId: 'p1' });
      await p1.publishAsync('mv/4', 'after-move', { qos: 1 });
      await waitFor(() => got.length === 4, 5_000);
      expect(got[3]!.payload).toBe('after-move');
      expect(e2.cluster.counters.get('session_moved_in')).toBe(1);
    } finally {
      await client.endAsync(true);
    }
  });

  it('a takeover across edges while QoS 1 messages keep coming (publishers on the old, the new and a third edge) loses none', async () => {
    const [e1, e2, e3] = [await startEdge('e1'), await startEdge('e2'), await startEdge('e3')];
    const v5 = { protocolVersion: 5 as const, clientId: 'busy', clean: false, properties: { sessionExpiryInterval: 300 } };
    const got: import('./harness.ts').Received[] = [];
    const first = await e1.connect(v5, got);
    await first.subscribeAsync('tk/#', { qos: 1 });
    const pubs = await Promise.all([e1, e2, e3].map((e, i) => e.connect({ clientId: `tk-pub-${i}` })));
    let running = true;
    const sent: string[] = [];
    const publishing = pubs.map(async (pub, i) => {
      for (let n = 0; running; n++) {
        await pub.publishAsync(`tk/${i}`, `${i}-${n}`, { qos: 1 });
        sent.push(`${i}-${n}`);
      }
    });
    await waitFor(() => got.length >= 30, 5_000);
    const second = await e2.connect(v5, got);
    const atTakeover = sent.length;
    await waitFor(() => sent.length >= atTakeover + 60, 10_000);
    running = false;
    await Promise.all(publishing);
    // Sentinels from every publisher: each one's earlier messages are in before its sentinel.
    for (const [i, pub] of pubs.entries()) await pub.publishAsync(`tk/${i}`, `end-${i}`, { qos: 1 });
    await waitFor(() => [0, 1, 2].every((i) => got.some((g) => g.payload === `end-${i}`)), 10_000);
    const received = new Set(got.map((g) => g.payload));
    expect(sent.filter((m) => !received.has(m))).toEqual([]);
    // At least once, and a second copy only as a redelivery (DUP) of one in flight on the old edge:
    // what the old edge queued during the move and the new edge also got directly is sent once.
    const firstSends = got.filter((g) => !g.packet.dup).map((g) => g.payload);
    expect(firstSends.length).toBe(new Set(firstSends).size);
    expect(second.connected).toBe(true);
  });

  it('[MQTT-4.4.0-1] an unacknowledged QoS 1 message in flight on the old edge is sent again, with DUP, on the new one', async () => {
    const e1 = await startEdge('e1');
    const e2 = await startEdge('e2');
    const raw = new RawClient(e1.port, 5);
    await raw.ready();
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'slow', clean: false, keepalive: 0, username: 'alice', password: Buffer.from('pw-a'), properties: { sessionExpiryInterval: 300 } });
    await raw.next('connack');
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'in/#', qos: 1 }] });
    await raw.next('suback');
    const pub = await e2.connect({ clientId: 'pub' });
    await pub.publishAsync('in/1', 'unacked', { qos: 1 });
    const first = (await raw.next('publish', 5_000)) as import('mqtt-packet').IPublishPacket;
    expect(first.dup).toBe(false);
    raw.close(); // never acknowledged

    const client = mqtt.connect({ host: '127.0.0.1', port: e2.port, username: 'alice', password: 'pw-a', reconnectPeriod: 0, protocolVersion: 5, clientId: 'slow', clean: false, properties: { sessionExpiryInterval: 300 } });
    const got: Array<{ payload: string; dup: boolean; id: number | undefined }> = [];
    client.on('message', (_t, payload, packet) => got.push({ payload: payload.toString(), dup: packet.dup, id: packet.messageId }));
    try {
      await waitFor(() => got.length === 1, 5_000);
      expect(got[0]).toEqual({ payload: 'unacked', dup: true, id: first.messageId });
    } finally {
      await client.endAsync(true);
    }
  });

  it('a persistent session outlives its edge stopping: parked in JetStream, resumed on another edge with its queued messages', async () => {
    const e1 = await startEdge('e1');
    const e2 = await startEdge('e2');
    const v5 = { protocolVersion: 5 as const, clientId: 'parker', clean: false, properties: { sessionExpiryInterval: 300 } };
    const first = await e1.connect(v5);
    await first.subscribeAsync('pk/#', { qos: 1 });
    await first.endAsync();
    const pub = await e2.connect({ clientId: 'pub' });
    for (let i = 1; i <= 2; i++) await pub.publishAsync(`pk/${i}`, `parked-${i}`, { qos: 1 });
    await waitFor(() => e1.cluster.core!.sessions.get('acc_a\u0000parker')?.queue.length === 2, 5_000);
    // Edge 1 goes (a rolling restart): broker first, then the cluster link, as the app stops them.
    open.splice(open.indexOf(e1), 1);
    await e1.close();
    await e1.cluster.stop();
    expect(e1.cluster.counters.get('session_parked')).toBe(1);

    const got: string[] = [];
    const client = mqtt.connect({ host: '127.0.0.1', port: e2.port, username: 'alice', password: 'pw-a', reconnectPeriod: 0, ...v5 });
    client.on('message', (_t, payload) => got.push(payload.toString()));
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      client.once('connect', (p) => resolve(p));
      client.once('error', reject);
    });
    try {
      expect(connack.sessionPresent).toBe(true);
      await waitFor(() => got.length === 2, 5_000);
      expect(got).toEqual(['parked-1', 'parked-2']);
      expect(e2.cluster.counters.get('session_unparked')).toBe(1);
    } finally {
      await client.endAsync(true);
    }
  });

  it('a client whose session no edge holds starts a new one', async () => {
    const e1 = await startEdge('e1');
    await startEdge('e2');
    const client = mqtt.connect({ host: '127.0.0.1', port: e1.port, username: 'alice', password: 'pw-a', reconnectPeriod: 0, protocolVersion: 5, clientId: 'newbie', clean: false, properties: { sessionExpiryInterval: 60 } });
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      client.once('connect', (p) => resolve(p));
      client.once('error', reject);
    });
    await client.endAsync(true);
    expect(connack.sessionPresent).toBe(false);
    expect(e1.cluster.counters.get('session_moved_in')).toBeUndefined();
    // NATS said at once that nobody holds it: no failed handover, no timeout.
    expect(e1.warnings).toEqual([]);
  });
});

describe('cluster: admin answers for the whole cluster', () => {
  it('lists, kicks and counts clients on every edge, asked on any edge', async () => {
    const e1 = await startEdge('e1');
    const e2 = await startEdge('e2');
    await e1.connect({ clientId: 'c1' });
    const c2 = await e2.connect({ protocolVersion: 5, clientId: 'c2' });
    await e2.connect({ clientId: 'b2', username: 'bob', password: 'pw-b' });
    const listed = await e1.cluster.listClients('acc_a', 100);
    expect(listed.map((c) => [c.clientId, c.edge]).sort()).toEqual([
      ['c1', 'e1'],
      ['c2', 'e2'],
    ]);
    expect((await e2.cluster.listClients('acc_b', 100)).map((c) => c.clientId)).toEqual(['b2']);
    expect((await e2.cluster.stats()).totals.connections).toBe(3);
    // An account's own figures (GetStats with account_id) are summed over the edges too.
    await c2.publishAsync('t/stats', 'x', { qos: 1 });
    expect(await e1.cluster.accountStats(['acc_a'])).toMatchObject({ connections: 2, sessions: 2, messagesIn: 1 });
    expect(await e1.cluster.accountStats(['acc_b'])).toMatchObject({ connections: 1, messagesIn: 0 });
    expect(await e2.cluster.accountStats(['acc_a', 'acc_b'])).toMatchObject({ connections: 3, messagesIn: 1 });
    const kicked = new Promise<number | undefined>((resolve) => c2.once('disconnect', (p) => resolve(p.reasonCode)));
    expect(await e1.cluster.kick('c2', 0x98, 'acc_a')).toBe(1);
    expect(await kicked).toBe(0x98);
    // Not in that account: nothing kicked.
    expect(await e1.cluster.kick('b2', 0x98, 'acc_a')).toBe(0);
  });

  it('an edge alone in its cluster answers for itself', async () => {
    const e1 = await startEdge('alone');
    await e1.connect({ clientId: 'only' });
    expect((await e1.cluster.listClients('acc_a', 100)).map((c) => [c.clientId, c.edge])).toEqual([['only', 'alone']]);
    expect(await e1.cluster.stats()).toMatchObject({ edges: 1, totals: { connections: 1 } });
    expect(e1.warnings).toEqual([]);
  });
});

describe('cluster: NATS failure', () => {
  it('NATS not there when the edges start: they serve local clients (degraded) and join the cluster by themselves when it comes', async () => {
    const late = await startNatsNode();
    await late.stop();
    try {
      const e1 = await startEdge('e1', { url: late.url, startTimeoutMs: 100 });
      const e2 = await startEdge('e2', { url: late.url, startTimeoutMs: 100 });
      expect([e1.cluster.degraded, e2.cluster.degraded]).toEqual([true, true]);
      const sub = await e1.connect({ clientId: 'sub' });
      const got = collect(sub);
      await sub.subscribeAsync('late/#', { qos: 1 });
      const local = await e1.connect({ clientId: 'local' });
      await local.publishAsync('late/local', 'alone', { qos: 1 });
      await waitFor(() => got.length === 1, 5_000);
      expect(e1.cluster.counters.get('not_connected')).toBe(1);

      await late.start();
      await waitFor(() => e1.cluster.connected && e2.cluster.connected, 15_000);
      // The subscription made before NATS came is declared by itself: edge 2's publish arrives.
      const far = await e2.connect({ clientId: 'far' });
      await far.publishAsync('late/far', 'joined', { qos: 1 });
      await waitFor(() => got.some((g) => g.payload === 'joined'), 5_000);
    } finally {
      for (const e of open.splice(0)) {
        await e.close();
        await e.cluster.stop();
      }
      await late.destroy();
    }
  });

  it('NATS stopped: local traffic continues and the edges report degraded; NATS back: cross-edge traffic resumes by itself', async () => {
    const e1 = await startEdge('e1');
    const e2 = await startEdge('e2');
    const sub = await e1.connect({ clientId: 'sub' });
    const got = collect(sub);
    await sub.subscribeAsync('f/#', { qos: 1 });
    const member = await e1.connect({ clientId: 'member' });
    const gotMember = collect(member);
    await member.subscribeAsync('$share/g/f/#', { qos: 1 });
    const localPub = await e1.connect({ clientId: 'local-pub' });
    const farPub = await e2.connect({ clientId: 'far-pub' });
    await farPub.publishAsync('f/before', 'before', { qos: 1 });
    await waitFor(() => got.length === 1, 5_000);

    await nats.stop();
    await waitFor(() => e1.cluster.degraded && e2.cluster.degraded, 10_000);
    await localPub.publishAsync('f/local', 'while-down', { qos: 1 });
    await waitFor(() => got.some((g) => g.payload === 'while-down'), 5_000);
    // Shared groups are served by each edge alone meanwhile.
    await waitFor(() => gotMember.some((g) => g.payload === 'while-down'), 5_000);
    // A retained message stored while NATS is down is written to the cluster store once it is back.
    await localPub.publishAsync('f/r1', 'retained-while-down', { qos: 1, retain: true });
    expect(retainedCount(e1, 'f/r1')).toBe(1);

    await nats.start();
    await waitFor(() => e1.cluster.connected && e2.cluster.connected, 15_000);
    // Edge 1 re-declared its interest by itself ("connected" means the server has it): the first
    // publish from edge 2 gets through.
    await farPub.publishAsync('f/after', 'after', { qos: 1 });
    await waitFor(() => got.some((g) => g.payload === 'after'), 5_000);
    expect(got.map((g) => g.payload).slice(0, 3)).toEqual(['before', 'while-down', 'retained-while-down']);
    await waitFor(() => retainedCount(e2, 'f/r1') === 1, 10_000);
    // The retained watch follows again after the restart (edge 1 learns edge 2's new retained message).
    await farPub.publishAsync('f/r2', 'retained-after', { qos: 1, retain: true });
    await waitFor(() => retainedCount(e1, 'f/r2') === 1, 10_000);
  });
});

/** acc_a's retained payload for `topic` on `edge`, if it holds one. */
function retainedValue(edge: Edge, topic: string): string | undefined {
  const [m] = edge.cluster.core!.retainedMatching('acc_a', topic);
  return m?.payload.toString();
}

/** acc_a's retained payload for `topic` as the cluster's bucket holds it (undefined: none, or deleted). */
async function bucketValue(topic: string): Promise<string | undefined> {
  const nc = await natsConnect({ servers: nats.url });
  try {
    const kv = await new Kvm(nc).open(`${clusterName}_retained`);
    const entry = await kv.get(`${encodeLevel('acc_a')}.${topicToTokens(topic)}`);
    if (!entry || entry.operation !== 'PUT') return undefined;
    const payload = decodeClusterMessage(entry.value, 0)!.message.payload;
    return payload.length === 0 ? undefined : payload.toString();
  } finally {
    await nc.close();
  }
}

function retainedCount(edge: Edge, filter: string): number {
  return [...edge.cluster.core!.retainedMatching('acc_a', filter)].length;
}

describe('cluster: NATS credentials', () => {
  it('a credentials file that cannot be read stops the start, naming the setting and the path', async () => {
    const cluster = new NatsCluster({ url: nats.url, cluster: 'creds', edgeId: 'e1', logger: pino({ level: 'silent' }), credsFile: '/nonexistent/edge.creds' });
    await expect(cluster.start()).rejects.toThrow('TOLLGATE_NATS_CREDS: cannot read /nonexistent/edge.creds (ENOENT)');
    expect(cluster.connected).toBe(false);
  });
});

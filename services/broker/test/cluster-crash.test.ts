/**
 * An edge dying (SIGKILL: no graceful stop, nothing parked): its persistent sessions, kept in
 * JetStream as they change, resume on another edge, and its clients' wills are published once by
 * the cluster (not once per surviving edge). The dying edge is its own OS process; the survivors
 * run in this process.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect as natsConnect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import pino from 'pino';
import { startNatsNode, type NatsNode } from '../../../test/harness/nats-node.ts';
import { NatsCluster } from '../src/cluster/nats-cluster.ts';
import { encodeLevel } from '../src/cluster/subject-codec.ts';
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
const children: ChildProcess[] = [];
let seq = 0;
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const e of open.splice(0)) {
    await e.close();
    await e.cluster.stop();
  }
});

async function startEdge(clusterName: string, name: string): Promise<Edge> {
  const cluster = new NatsCluster({ url: nats.url, cluster: clusterName, edgeId: name, logger: pino({ level: 'silent' }), persistDelayMs: 20, livenessIntervalMs: 200 });
  const tb = await startBroker({ cluster });
  await cluster.start();
  const edge = Object.assign(tb, { cluster });
  open.push(edge);
  return edge;
}

/** An edge in its own process: answers its MQTT port and the child (to SIGKILL). */
async function startEdgeProcess(clusterName: string, name: string): Promise<{ port: number; child: ChildProcess }> {
  const script = fileURLToPath(new URL('./cluster-edge-process.ts', import.meta.url));
  const child = fork(script, [nats.url, clusterName, name], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`edge ${name} exited ${code}`)));
  });
  return { port, child };
}

/** The session as JetStream keeps it (what another edge would resume), or undefined. */
async function storedSession(clusterName: string, account: string, clientId: string): Promise<{ owner: string; subscriptions: Array<{ f: string }>; will?: unknown; online: boolean } | undefined> {
  const nc = await natsConnect({ servers: nats.url });
  try {
    const kv = await new Kvm(nc).open(`${clusterName}_sessions`);
    const entry = await kv.get(`${encodeLevel(account)}.${encodeLevel(clientId)}`);
    return entry && entry.operation === 'PUT' ? entry.json() : undefined;
  } catch {
    return undefined;
  } finally {
    await nc.close();
  }
}

/** Polls an async condition (JetStream reads) until it holds. */
async function until(cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error('until: timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function killed(child: ChildProcess): Promise<void> {
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe('cluster: an edge that dies', () => {
  it('SIGKILL: its client resumes on another edge with Session Present and its subscriptions; its will is published once', async () => {
    const clusterName = `crash${process.pid}x${++seq}`;
    const b = await startEdge(clusterName, 'b');
    const c = await startEdge(clusterName, 'c');
    const a = await startEdgeProcess(clusterName, 'a');
    const mqtt = (await import('mqtt')).default;
    const device = await mqtt.connectAsync({
      host: '127.0.0.1',
      port: a.port,
      protocolVersion: 5,
      clientId: 'dev-1',
      clean: false,
      properties: { sessionExpiryInterval: 300 },
      username: 'alice',
      password: 'pw-a',
      reconnectPeriod: 0,
      will: { topic: 'status/dev-1', payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    await device.subscribeAsync('cmd/dev-1/#', { qos: 1 });
    // Two survivors watch for the will: each of them could fire it, once in all is right.
    const watcherB = await b.connect({ protocolVersion: 5, clientId: 'watch-b' });
    const watcherC = await c.connect({ protocolVersion: 5, clientId: 'watch-c' });
    const willsB = collect(watcherB);
    const willsC = collect(watcherC);
    await watcherB.subscribeAsync('status/#', { qos: 1 });
    await watcherC.subscribeAsync('status/#', { qos: 1 });
    // Kept in JetStream as it changed: the subscription and the will are there before the crash.
    await until(async () => {
      const s = await storedSession(clusterName, 'acc_a', 'dev-1');
      return s !== undefined && s.online && s.will !== undefined && s.subscriptions.some((x) => x.f === 'cmd/dev-1/#');
    }, 5_000);
    await killed(a.child);

    // The will, published by the edge that adopted the dead edge's sessions.
    await waitFor(() => willsB.some((m) => m.payload === 'gone') && willsC.some((m) => m.payload === 'gone'), 10_000);
    // A QoS 1 command sent while the device is away is queued for its session on the adopting edge.
    const sender = await b.connect({ protocolVersion: 5, clientId: 'sender' });
    const key = 'acc_a\u0000dev-1';
    expect([b, c].filter((e) => e.cluster.core!.sessions.has(key))).toHaveLength(1);
    await sender.publishAsync('cmd/dev-1/reboot', 'while-away', { qos: 1 });

    // The device comes back on edge b.
    const back = mqtt.connect({ host: '127.0.0.1', port: b.port, protocolVersion: 5, clientId: 'dev-1', clean: false, properties: { sessionExpiryInterval: 300 }, username: 'alice', password: 'pw-a', reconnectPeriod: 0 });
    const got = collect(back);
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      back.once('connect', (p) => resolve(p));
      back.once('error', reject);
    });
    expect(connack.sessionPresent).toBe(true);
    await sender.publishAsync('cmd/dev-1/ping', 'after', { qos: 1 });
    await waitFor(() => got.some((m) => m.payload === 'after'), 5_000);
    expect(got.map((m) => m.payload)).toContain('while-away');

    // Exactly one will in the whole cluster: a sentinel after it arrives, a second will would have too.
    await sender.publishAsync('status/sentinel', 'sentinel', { qos: 1 });
    await waitFor(() => willsB.some((m) => m.payload === 'sentinel') && willsC.some((m) => m.payload === 'sentinel'), 5_000);
    expect(willsB.filter((m) => m.payload === 'gone')).toHaveLength(1);
    expect(willsC.filter((m) => m.payload === 'gone')).toHaveLength(1);
    back.end(true);
  }, 40_000);

  it('an edge whose session another edge took meanwhile (it was declared dead) drops its copy without the will: 0x8E to its client', async () => {
    const clusterName = `crash${process.pid}x${++seq}`;
    const e1 = await startEdge(clusterName, 'e1');
    const device = await e1.connect({ protocolVersion: 5, clientId: 'dev-f', clean: false, properties: { sessionExpiryInterval: 300 }, will: { topic: 'status/dev-f', payload: Buffer.from('gone'), qos: 1, retain: false } });
    const watcher = await e1.connect({ protocolVersion: 5, clientId: 'watch' });
    const seen = collect(watcher);
    await watcher.subscribeAsync('status/#', { qos: 1 });
    await device.subscribeAsync('a/#', { qos: 1 });
    await until(async () => (await storedSession(clusterName, 'acc_a', 'dev-f'))?.subscriptions.some((x) => x.f === 'a/#') === true, 5_000);
    // What an adopting edge does: it rewrites the entry (compare-and-set on the revision it read).
    const nc = await natsConnect({ servers: nats.url });
    const kv = await new Kvm(nc).open(`${clusterName}_sessions`);
    const key = `${encodeLevel('acc_a')}.${encodeLevel('dev-f')}`;
    const entry = (await kv.get(key))!;
    await kv.put(key, JSON.stringify({ ...entry.json<object>(), owner: 'another-edge', online: false }), { previousSeq: entry.revision });
    await nc.close();
    const disconnected = new Promise<number | undefined>((resolve) => device.once('disconnect', (p) => resolve(p.reasonCode)));
    // The next change of the session is written compare-and-set on e1's revision: it fails.
    device.subscribe('b/#', { qos: 1 });
    expect(await disconnected).toBe(0x8e);
    await waitFor(() => !e1.cluster.core!.sessions.has('acc_a\u0000dev-f'), 5_000);
    expect(e1.cluster.counters.get('session_fenced')).toBe(1);
    // The entry is the other edge's: not deleted by e1.
    expect((await storedSession(clusterName, 'acc_a', 'dev-f'))?.owner).toBe('another-edge');
    // No will from the dropped copy: a sentinel after it arrives, a will would have come first.
    await watcher.publishAsync('status/sentinel', 'sentinel', { qos: 1 });
    await waitFor(() => seen.some((m) => m.payload === 'sentinel'), 5_000);
    expect(seen.map((m) => m.payload)).toEqual(['sentinel']);
  });

  it('SIGKILL: a client back on another edge within its Will Delay resumes its session, and its will is dropped everywhere', async () => {
    const clusterName = `crash${process.pid}x${++seq}`;
    const b = await startEdge(clusterName, 'b');
    const c = await startEdge(clusterName, 'c');
    const a = await startEdgeProcess(clusterName, 'a');
    const mqtt = (await import('mqtt')).default;
    const options = { host: '127.0.0.1', protocolVersion: 5 as const, clientId: 'dev-2', clean: false, properties: { sessionExpiryInterval: 300 }, username: 'alice', password: 'pw-a', reconnectPeriod: 0 };
    const device = await mqtt.connectAsync({ ...options, port: a.port, will: { topic: 'status/dev-2', payload: Buffer.from('gone'), qos: 1, retain: false, properties: { willDelayInterval: 120 } } });
    await device.subscribeAsync('cmd/dev-2', { qos: 1 });
    await until(async () => {
      const s = await storedSession(clusterName, 'acc_a', 'dev-2');
      return s !== undefined && s.will !== undefined && s.subscriptions.some((x) => x.f === 'cmd/dev-2');
    }, 5_000);
    await killed(a.child);
    // Back at once, before or after an edge adopted the session (either way: the same outcome).
    const back = mqtt.connect({ ...options, port: b.port });
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      back.once('connect', (p) => resolve(p));
      back.once('error', reject);
    });
    try {
      expect(connack.sessionPresent).toBe(true);
      const key = 'acc_a\u0000dev-2';
      // Whichever edge adopted it (if one did before the client was back) has let it go.
      await waitFor(() => !c.cluster.core!.sessions.has(key) && b.cluster.core!.sessions.get(key)?.connection?.connected === true, 10_000);
      expect(b.cluster.core!.sessions.get(key)!.will).toBeUndefined();
      expect(b.cluster.core!.sessions.get(key)!.subscriptions.has('cmd/dev-2')).toBe(true);
      // JetStream's copy follows: no will left for a later adoption to publish.
      await until(async () => {
        const s = await storedSession(clusterName, 'acc_a', 'dev-2');
        return s !== undefined && s.online && s.will === undefined;
      }, 5_000);
    } finally {
      back.end(true);
    }
  }, 40_000);
});

/**
 * A new subscriber gets the whole retained set, paced by its Receive Maximum (QoS > 0) and its
 * socket (QoS 0), never cut short by a full queue; retained messages are capped per account.
 */
import { afterEach, describe, expect, it } from 'vitest';
import mqttPacket from 'mqtt-packet';
import { startBroker, clustered, collect, waitFor, sendInOneWrite, type TestBroker } from './harness.ts';

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

/** Stores `count` retained messages `prefix/<i>` at `qos` through one raw connection, pipelined. */
async function retainMany(prefix: string, count: number, qos: 0 | 1): Promise<void> {
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    frames.push(mqttPacket.generate({ cmd: 'publish', topic: `${prefix}/${i}`, payload: Buffer.from(`v${i}`), qos, retain: true, dup: false, ...(qos > 0 ? { messageId: (i % 65_000) + 1 } : {}) }));
  }
  await sendInOneWrite(tb!.port, `seed-${prefix}`, frames, 20_000);
  // In a cluster, the subscriber's edge has the set once its last message got there.
  await tb!.retainedEverywhere(`${prefix}/${count - 1}`, `v${count - 1}`);
}

describe('retained delivery to a new subscriber', () => {
  it('5,000 retained at QoS 1 all arrive (MQTT.js, v5, Receive Maximum 20)', async () => {
    tb = await startBroker();
    await retainMany('r1', 5_000, 1);
    const sub = await tb.connect({ protocolVersion: 5, clientId: 'sub1', properties: { receiveMaximum: 20 } });
    const got = collect(sub);
    await sub.subscribeAsync('r1/#', { qos: 1 });
    await waitFor(() => got.length >= 5_000, 30_000);
    expect(new Set(got.map((g) => g.topic)).size).toBe(5_000);
    expect(got.every((g) => g.packet.retain && g.packet.qos === 1)).toBe(true);
    expect(tb.metrics.get('dropped_queue_full')).toBe(0);
  });

  // In a cluster, 5,000: the pacing is the subscriber's edge's own (as on one edge) once the set is
  // mirrored there, and mirroring 20,000 KV writes would take most of the test's time on a busy machine.
  const many = clustered ? 5_000 : 20_000;
  it(`${many.toLocaleString('en-US')} retained at QoS 0 all arrive (MQTT.js, v3.1.1), paced by the socket`, async () => {
    // A small socket budget stands for a slow link: live QoS 0 beyond it would be dropped.
    tb = await startBroker({ maxBufferedBytesPerClient: 16 * 1024 });
    await retainMany('r0', many, 0);
    const sub = await tb.connect({ clientId: 'sub0' });
    const got = collect(sub);
    await sub.subscribeAsync('r0/#', { qos: 0 });
    await waitFor(() => got.length >= many, 30_000);
    expect(new Set(got.map((g) => g.topic)).size).toBe(many);
    expect(tb.metrics.get('dropped_qos0_slow_consumer')).toBe(0);
  });

  it('a message published after the SUBSCRIBE arrives once, live, not again as retained', async () => {
    tb = await startBroker();
    await retainMany('r2', 3_000, 1);
    const sub = await tb.connect({ protocolVersion: 5, clientId: 'sub2', properties: { receiveMaximum: 5 } });
    const got = collect(sub);
    await sub.subscribeAsync('r2/#', { qos: 1 });
    const pub = await tb.connect({ clientId: 'pub2' });
    await pub.publishAsync('r2/new', 'live', { qos: 1, retain: true });
    await pub.publishAsync('r2/2999', 'replaced', { qos: 1, retain: true });
    await pub.publishAsync('r2/sentinel', 's', { qos: 1 });
    await waitFor(() => got.some((g) => g.topic === 'r2/sentinel'));
    await waitFor(() => new Set(got.map((g) => g.topic)).size === 3_002, 30_000);
    expect(got.filter((g) => g.topic === 'r2/new').length).toBe(1);
    // The replaced topic: its old value only if it was sent before the replacement, never after it.
    const last = got.filter((g) => g.topic === 'r2/2999').map((g) => g.payload);
    expect(last.at(-1)).toBe('replaced');
    expect(last.length === 1 || (last.length === 2 && last[0] === 'v2999')).toBe(true);
  });
});

describe('retained messages per account', () => {
  it('over the cap: QoS 1 → PUBACK 0x97, not stored, not routed; QoS 0 not stored, counted; replacing is fine', async () => {
    tb = await startBroker({ maxRetainedPerAccount: 3 });
    const watcher = await tb.connect({ protocolVersion: 5, clientId: 'w' });
    const live = collect(watcher);
    await watcher.subscribeAsync('cap/#', { qos: 1 });
    const pub = await tb.connect({ protocolVersion: 5, clientId: 'p' });
    for (let i = 0; i < 3; i++) await pub.publishAsync(`cap/${i}`, `v${i}`, { qos: 1, retain: true });
    await expect(pub.publishAsync('cap/3', 'over', { qos: 1, retain: true })).rejects.toMatchObject({ code: 0x97 });
    pub.publish('cap/4', 'over0', { qos: 0, retain: true });
    await pub.publishAsync('cap/0', 'replaced', { qos: 1, retain: true });
    await pub.publishAsync('cap/sentinel', 's', { qos: 1 });
    await waitFor(() => live.some((g) => g.topic === 'cap/sentinel'));
    expect(live.map((g) => g.topic)).toEqual(['cap/0', 'cap/1', 'cap/2', 'cap/0', 'cap/sentinel']);
    expect(tb.metrics.get('retained_refused')).toBe(2);
    // In a cluster the late subscriber's edge mirrors the retained set after the PUBACKs, and the
    // live sentinel may outrun it: wait for the last retained write (cap/0's replacement) there.
    await tb.retainedEverywhere('cap/0', 'replaced');
    const late = await tb.connect({ protocolVersion: 5, clientId: 'late' });
    const stored = collect(late);
    await late.subscribeAsync('cap/#', { qos: 1 });
    await waitFor(() => stored.length >= 3);
    await pub.publishAsync('cap/sentinel', 's2', { qos: 1 });
    await waitFor(() => stored.some((g) => g.topic === 'cap/sentinel'));
    expect(stored.map((g) => `${g.topic}=${g.payload}`).sort()).toEqual(['cap/0=replaced', 'cap/1=v1', 'cap/2=v2', 'cap/sentinel=s2']);
  });

  it("the account's mqtt.retained quota applies when lower than the edge's cap; the PUBLISH waits until it is known, in order", async () => {
    const limits = new Map<string, number | null>([['acc_b', null]]);
    let releaseLoad!: () => void;
    const loads: string[] = [];
    tb = await startBroker({
      maxRetainedPerAccount: 3,
      retainedLimits: {
        limitFor: (account) => limits.get(account),
        load: (account) => {
          loads.push(account);
          return new Promise<void>((resolve) => {
            releaseLoad = () => {
              limits.set(account, 1);
              resolve();
            };
          });
        },
      },
    });
    const pub = await tb.connect({ protocolVersion: 5, clientId: 'q' });
    const first = pub.publishAsync('q/0', 'a', { qos: 1, retain: true });
    const second = pub.publishAsync('q/1', 'b', { qos: 1, retain: true });
    await waitFor(() => loads.length === 1);
    releaseLoad();
    await first;
    await expect(second).rejects.toMatchObject({ code: 0x97 });
    expect(loads).toEqual(['acc_a']);
    // Deleting never waits for the limit; an account without one (null) keeps the edge's cap of 3.
    await pub.publishAsync('q/0', '', { qos: 1, retain: true });
    const other = await tb.connect({ protocolVersion: 5, clientId: 'b', username: 'bob', password: 'pw-b' });
    for (let i = 0; i < 3; i++) await other.publishAsync(`q/${i}`, 'x', { qos: 1, retain: true });
    await expect(other.publishAsync('q/3', 'x', { qos: 1, retain: true })).rejects.toMatchObject({ code: 0x97 });
    expect(loads).toEqual(['acc_a']);
    // acc_a's place freed by the delete takes a new topic.
    await pub.publishAsync('q/2', 'c', { qos: 1, retain: true });
  });
});

/**
 * Topic aliases the broker assigns on its PUBLISH packets to v5 clients that ask for them
 * (Topic Alias Maximum in CONNECT), with MQTT.js as the client: it resolves every alias itself and
 * errors out on any alias it did not allow, so a passing test is also its verdict on the wire.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { collect, startBroker, waitFor, type Received, type TestBroker } from './harness.ts';

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

const aliasOf = (r: Received) => r.packet.properties?.topicAlias;

describe('server-to-client topic aliases (v5)', () => {
  it('sends a topic once with its alias, then the alias alone; never above the client\'s maximum', async () => {
    tb = await startBroker();
    const sub = await tb.connect({ protocolVersion: 5, clientId: 'ta-sub', properties: { topicAliasMaximum: 2 } });
    const errors: Error[] = [];
    sub.on('error', (e) => errors.push(e));
    const got = collect(sub);
    await sub.subscribeAsync('ta/#', { qos: 1 });
    const pub = await tb.connect({ protocolVersion: 5 });
    const topics = ['ta/one', 'ta/one', 'ta/two', 'ta/two', 'ta/three', 'ta/one', 'ta/three'];
    for (const [i, t] of topics.entries()) await pub.publishAsync(t, `${i}`, { qos: i % 2 ? 1 : 0 });
    await waitFor(() => got.length === topics.length);
    expect(errors).toEqual([]);
    // MQTT.js resolved every alias back to the topic that was published.
    expect(got.map((g) => g.topic)).toEqual(topics);
    expect(got.map((g) => g.payload)).toEqual(topics.map((_, i) => `${i}`));
    // Every PUBLISH carried an alias within 1..2 [MQTT-3.1.2-29, MQTT-3.3.2-8].
    for (const g of got) expect(aliasOf(g)).toBeGreaterThanOrEqual(1);
    for (const g of got) expect(aliasOf(g)).toBeLessThanOrEqual(2);
    // Wire topics: the first use of a topic names it, a repeat is the alias alone.
    expect(got.map((g) => g.packet.topic)).toEqual(['ta/one', '', 'ta/two', '', 'ta/three', 'ta/one', '']);
    expect(aliasOf(got[1]!)).toBe(aliasOf(got[0]!));
    // ta/three re-mapped the least recently used alias (ta/one's); ta/one then took ta/two's, and
    // ta/three kept its own.
    expect(aliasOf(got[4]!)).toBe(aliasOf(got[0]!));
    expect(aliasOf(got[5]!)).toBe(aliasOf(got[2]!));
    expect(aliasOf(got[6]!)).toBe(aliasOf(got[4]!));
  });

  it('sends no alias to a client that asked for none, to v3.1.1 clients, or when turned off', async () => {
    tb = await startBroker();
    const plain5 = await tb.connect({ protocolVersion: 5 });
    const v4 = await tb.connect({ protocolVersion: 4 });
    const got5 = collect(plain5);
    const got4 = collect(v4);
    await plain5.subscribeAsync('n/#');
    await v4.subscribeAsync('n/#');
    const pub = await tb.connect({ protocolVersion: 5 });
    for (let i = 0; i < 3; i++) await pub.publishAsync('n/x', `${i}`);
    await waitFor(() => got5.length === 3 && got4.length === 3);
    expect([...got5, ...got4].map(aliasOf)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
    expect([...got5, ...got4].map((g) => g.packet.topic)).toEqual(Array(6).fill('n/x'));
    await tb.close();

    tb = await startBroker({ outboundTopicAliasMaximum: 0 });
    const asks = await tb.connect({ protocolVersion: 5, properties: { topicAliasMaximum: 10 } });
    const got = collect(asks);
    await asks.subscribeAsync('n/#');
    const p2 = await tb.connect({ protocolVersion: 5 });
    await p2.publishAsync('n/x', 'a');
    await p2.publishAsync('n/x', 'b');
    await waitFor(() => got.length === 2);
    expect(got.map(aliasOf)).toEqual([undefined, undefined]);
  });

  it('our own cap bounds the map below the client\'s maximum; aliases ride along with other properties', async () => {
    tb = await startBroker({ outboundTopicAliasMaximum: 1 });
    const sub = await tb.connect({ protocolVersion: 5, properties: { topicAliasMaximum: 100 } });
    const got = collect(sub);
    await sub.subscribeAsync('cap/#', { qos: 1 });
    const pub = await tb.connect({ protocolVersion: 5 });
    await pub.publishAsync('cap/a', '1', { qos: 1, properties: { userProperties: { k: 'v' }, messageExpiryInterval: 60 } });
    await pub.publishAsync('cap/a', '2', { qos: 1, properties: { userProperties: { k: 'v2' } } });
    await pub.publishAsync('cap/b', '3', { qos: 0 });
    await waitFor(() => got.length === 3);
    expect(got.map((g) => g.topic)).toEqual(['cap/a', 'cap/a', 'cap/b']);
    expect(got.map(aliasOf)).toEqual([1, 1, 1]);
    expect(got.map((g) => g.packet.topic)).toEqual(['cap/a', '', 'cap/b']);
    expect(got[1]!.packet.properties?.userProperties).toEqual({ k: 'v2' });
  });

  it('[MQTT-3.3.2-7] aliases are not carried to the next connection of a session', async () => {
    tb = await startBroker();
    const opts = { protocolVersion: 5 as const, clientId: 'ta-resume', clean: false, properties: { sessionExpiryInterval: 60, topicAliasMaximum: 4 } };
    const first = await tb.connect(opts);
    const got1 = collect(first);
    await first.subscribeAsync('r/#', { qos: 1 });
    const pub = await tb.connect({ protocolVersion: 5 });
    await pub.publishAsync('r/x', 'before', { qos: 1 });
    await waitFor(() => got1.length === 1);
    await first.endAsync();
    await pub.publishAsync('r/x', 'queued', { qos: 1 });
    const got2: Received[] = [];
    const second = await tb.connect(opts, got2);
    await waitFor(() => got2.length === 1);
    await pub.publishAsync('r/x', 'live', { qos: 1 });
    await waitFor(() => got2.length === 2);
    // The queued message on the new connection names its topic again; the next one uses the alias.
    expect(got2.map((g) => [g.topic, g.packet.topic, g.payload])).toEqual([['r/x', 'r/x', 'queued'], ['r/x', '', 'live']]);
    expect(second.connected).toBe(true);
  });
});

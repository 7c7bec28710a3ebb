/**
 * A wildcard subscription overlapping a deny rule (`#` with a deny on `secret/#`) is granted and
 * filtered per delivery (TOLLGATE_ACL_SUBSCRIBE_OVERLAP=filter), or refused (refuse). The rules
 * are compiled by authz's ACL engine, as the broker does for acl tokens.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, collect, waitFor, RawClient, type TestBroker } from './harness.ts';
import type { InMemoryUser } from './doubles/in-memory-authenticator.ts';

let tb: TestBroker | undefined;
const raws: RawClient[] = [];
afterEach(async () => {
  raws.splice(0).forEach((r) => r.close());
  await tb?.close();
  tb = undefined;
});

/** SUBACK reason codes for `filters` (QoS 0) from a raw v5 client logged in as the reader. */
async function subackCodes(filters: string[]): Promise<number[]> {
  const r = new RawClient(tb!.port, 5);
  raws.push(r);
  await r.ready();
  r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'raw-reader', clean: true, keepalive: 0, username: 'reader', password: Buffer.from('pw-r') });
  await r.next('connack');
  r.send({ cmd: 'subscribe', messageId: 1, subscriptions: filters.map((topic) => ({ topic, qos: 0 as const })) });
  return ((await r.next('suback')) as { granted: number[] }).granted;
}

const rules = [
  { effect: 'allow', actions: ['subscribe', 'publish'], resources: ['mqtt:#'] },
  { effect: 'deny', actions: ['subscribe'], resources: ['mqtt:secret/#'] },
];
const users = (mode: 'filter' | 'refuse'): InMemoryUser[] => [
  { username: 'reader', password: 'pw-r', account: 'acc_o', rules, subscribeOverlap: mode },
  { username: 'writer', password: 'pw-w', account: 'acc_o', superuser: true },
];

describe('subscriptions overlapping a deny rule', () => {
  it('filter: `#` granted; a/b delivered, secret/x not (live and retained), shared too', async () => {
    tb = await startBroker({ users: users('filter') });
    const writer = await tb.connect({ protocolVersion: 5, clientId: 'w', username: 'writer', password: 'pw-w' });
    await writer.publishAsync('secret/old', 'retained-secret', { qos: 1, retain: true });
    await writer.publishAsync('a/old', 'retained-ok', { qos: 1, retain: true });
    // In a cluster the reader's edge mirrors both a little after the PUBACKs, in the order written.
    await tb.retainedEverywhere('a/old', 'retained-ok');
    const reader = await tb.connect({ protocolVersion: 5, clientId: 'r', username: 'reader', password: 'pw-r' });
    const got = collect(reader);
    const granted = await reader.subscribeAsync({ '#': { qos: 1 }, '$share/g/+/x': { qos: 1 } });
    expect(granted.map((g) => g.qos)).toEqual([1, 1]);
    await writer.publishAsync('a/b', 'ok', { qos: 1 });
    await writer.publishAsync('secret/x', 'hidden', { qos: 1 });
    await writer.publishAsync('secret', 'hidden-too', { qos: 0 });
    await writer.publishAsync('z/sentinel', 'last', { qos: 1 });
    await waitFor(() => got.some((g) => g.topic === 'z/sentinel'));
    expect(got.map((g) => `${g.topic}=${g.payload}`).sort()).toEqual(['a/b=ok', 'a/old=retained-ok', 'z/sentinel=last']);
    expect(got.some((g) => g.topic.startsWith('secret'))).toBe(false);
  });

  it('filter: a filter inside the denied subtree is still refused (0x87)', async () => {
    tb = await startBroker({ users: users('filter') });
    expect(await subackCodes(['secret/#', 'secret/x', '$share/g/secret/+', '+/y'])).toEqual([0x87, 0x87, 0x87, 0]);
  });

  it('refuse: `#` gets SUBACK 0x87', async () => {
    tb = await startBroker({ users: users('refuse') });
    expect(await subackCodes(['#', 'a/#', '+/y'])).toEqual([0x87, 0, 0x87]);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, collect, waitFor, type TestBroker } from './harness.ts';
import type { MqttClient } from 'mqtt';
import { ScriptedQuotaMeter } from './doubles/scripted-quota-meter.ts';
import type { SpendResult } from '../src/domain/ports.ts';

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

const device = { username: 'device', password: 'pw-d' };

/** SUBACK return codes, whether or not MQTT.js calls some of them an error. */
async function granted(c: MqttClient, filters: string[], qos: 0 | 1 | 2): Promise<number[]> {
  try {
    const res = await c.subscribeAsync(filters, { qos });
    return res.map((g) => g.qos);
  } catch (err) {
    return ((err as { packet: { granted: number[] } }).packet.granted);
  }
}

describe('authorization', () => {
  it('SUBSCRIBE: refused filters get 0x87 (v5) / 0x80 (v3.1.1), allowed ones their QoS', async () => {
    tb = await startBroker();
    const v5 = await tb.connect({ protocolVersion: 5, clientId: 'd1', ...device });
    expect(await granted(v5, ['devices/d1/#', 'devices/other/#'], 1)).toEqual([1, 0x87]);
    const v4 = await tb.connect({ protocolVersion: 4, clientId: 'd2', ...device });
    expect(await granted(v4, ['devices/d2/#', 'elsewhere'], 1)).toEqual([1, 0x80]);
    expect(tb.metrics.get('subscribe_denied')).toBe(2);
  });

  it('PUBLISH: refused topic → PUBACK 0x87 (v5 QoS 1), dropped for QoS 0, counted', async () => {
    tb = await startBroker();
    const watcher = await tb.connect();
    const got = collect(watcher);
    await watcher.subscribeAsync('#');
    const d = await tb.connect({ protocolVersion: 5, clientId: 'd1', ...device });
    await expect(d.publishAsync('devices/other/t', 'no', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    await d.publishAsync('devices/other/t', 'no', { qos: 0 });
    await d.publishAsync('devices/d1/t', 'yes', { qos: 1 });
    // 'yes' was sent after both refused publishes: it arriving alone proves they were dropped.
    await waitFor(() => got.length > 0);
    expect(got.map((g) => g.topic)).toEqual(['devices/d1/t']);
    expect(tb.metrics.get('publish_denied')).toBe(2);
  });

  it('async ACL fallback keeps per-client order', async () => {
    tb = await startBroker();
    const s = await tb.connect({ username: 'slowacl', password: 'pw-s' });
    const got = collect(s);
    expect(await granted(s, ['open/#', 'secret/#'], 1)).toEqual([1, 0x80]);
    for (let i = 0; i < 20; i++) s.publish(i % 2 ? 'open/x' : 'secret/x', `${i}`, { qos: i % 3 === 0 ? 1 : 0 });
    await waitFor(() => got.length === 10);
    expect(got.map((g) => Number(g.payload))).toEqual([1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);
  });

  it('superuser skips the ACL but stays in its account', async () => {
    tb = await startBroker({ users: [{ username: 'root', password: 'r', account: 'acc_a', superuser: true, canPublish: () => false, canSubscribe: () => false }] });
    const c = await tb.connect({ username: 'root', password: 'r' });
    const got = collect(c);
    await c.subscribeAsync('any/#');
    await c.publishAsync('any/1', 'x', { qos: 1 });
    await waitFor(() => got.length === 1);
  });
});

describe('quota', () => {
  it('connection slot refused → v5 CONNACK 0x97', async () => {
    tb = await startBroker({ quota: new ScriptedQuotaMeter({ maxConnectionsPerAccount: 1 }) });
    await tb.connect({ protocolVersion: 5, clientId: 'one' });
    await expect(tb.connect({ protocolVersion: 5, clientId: 'two' })).rejects.toMatchObject({ code: 0x97 });
    await expect(tb.connect({ protocolVersion: 4, clientId: 'three' })).rejects.toMatchObject({ code: 3 });
  });

  it('slots are released on disconnect', async () => {
    const quota = new ScriptedQuotaMeter({ maxConnectionsPerAccount: 1 });
    tb = await startBroker({ quota });
    const c = await tb.connect({ clientId: 'one' });
    await c.endAsync();
    await waitFor(() => quota.open.get('acc_a') === 0);
    await tb.connect({ clientId: 'two' });
  });

  it('exhausted → PUBACK 0x97 (v5), then DISCONNECT 0x97 when cut off', async () => {
    let spent = 0;
    const spend = (): SpendResult => (++spent <= 1 ? { kind: 'ok' } : spent === 2 ? { kind: 'exhausted', cutOff: false } : { kind: 'exhausted', cutOff: true });
    tb = await startBroker({ quota: new ScriptedQuotaMeter({ spend }) });
    const c = await tb.connect({ protocolVersion: 5 });
    let reason: number | undefined;
    c.on('disconnect', (p) => (reason = p.reasonCode));
    await c.publishAsync('q', '1', { qos: 1 });
    await expect(c.publishAsync('q', '2', { qos: 1 })).rejects.toMatchObject({ code: 0x97 });
    c.publish('q', '3', { qos: 1 });
    await waitFor(() => reason !== undefined);
    expect(reason).toBe(0x97);
    expect(tb.metrics.get('quota_exhausted')).toBe(2);
  });

  it('throttled → reading pauses until budget returns, nothing is dropped', async () => {
    let calls = 0;
    const spend = (): SpendResult => (++calls % 3 === 0 ? { kind: 'throttled', retryAfterMs: 100 } : { kind: 'ok' });
    tb = await startBroker({ quota: new ScriptedQuotaMeter({ spend }) });
    const s = await tb.connect();
    const got = collect(s);
    await s.subscribeAsync('t');
    const p = await tb.connect();
    const started = Date.now();
    for (let i = 0; i < 6; i++) p.publish('t', `${i}`);
    await waitFor(() => got.length === 6, 5_000);
    expect(got.map((g) => g.payload)).toEqual(['0', '1', '2', '3', '4', '5']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(tb.metrics.get('quota_throttled')).toBeGreaterThanOrEqual(2);
  });
});

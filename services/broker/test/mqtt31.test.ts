/** MQTT 3.1 (`MQIsdp`, protocol level 3) with real clients: MQTT.js and mosquitto_pub/sub speaking 3.1. */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { startBroker, collect, waitFor, RawClient, type TestBroker } from './harness.ts';

let tb: TestBroker | undefined;
const raws: RawClient[] = [];
afterEach(async () => {
  raws.splice(0).forEach((r) => r.close());
  await tb?.close();
  tb = undefined;
});

const v31 = { protocolId: 'MQIsdp', protocolVersion: 3 } as const;
const str = (s: string) => {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
};

describe('MQTT 3.1', () => {
  it('connects, subscribes and publishes QoS 0 and 1 with MQTT.js (protocolId MQIsdp, level 3)', async () => {
    tb = await startBroker();
    const sub = await tb.connect({ ...v31, clientId: 'v31-sub' });
    const got = collect(sub);
    const granted = await sub.subscribeAsync('v31/#', { qos: 1 });
    expect(granted.map((g) => g.qos)).toEqual([1]);
    const pub = await tb.connect({ ...v31, clientId: 'v31-pub' });
    await pub.publishAsync('v31/a', 'zero', { qos: 0 });
    await pub.publishAsync('v31/b', 'one', { qos: 1 });
    await waitFor(() => got.length === 2);
    expect(got.map((g) => [g.topic, g.payload, g.packet.qos])).toEqual([
      ['v31/a', 'zero', 0],
      ['v31/b', 'one', 1],
    ]);
    expect(tb.broker.clients().map((c) => c.protocol)).toEqual(['mqtt3.1', 'mqtt3.1']);
  });

  it('a 3.1 client and a 5.0 client exchange messages', async () => {
    tb = await startBroker();
    const v5 = await tb.connect({ protocolVersion: 5, clientId: 'v5-sub' });
    const got = collect(v5);
    await v5.subscribeAsync('mix/#', { qos: 1 });
    const old = await tb.connect({ ...v31, clientId: 'v31-pub' });
    await old.publishAsync('mix/x', 'from 3.1', { qos: 1 });
    await waitFor(() => got.length === 1);
    expect(got[0]).toMatchObject({ topic: 'mix/x', payload: 'from 3.1' });
  });

  it('bad credentials: CONNACK return code 4 (3.1 knows codes 0-5)', async () => {
    tb = await startBroker();
    await expect(tb.connect({ ...v31, clientId: 'v31-bad', password: 'wrong' })).rejects.toMatchObject({ code: 4 });
  });

  it('[MQTT 3.1 §3.1] an empty client id is refused with return code 2 (3.1 has no assigned ids)', async () => {
    tb = await startBroker();
    const r = new RawClient(tb.port, 3);
    raws.push(r);
    await r.ready();
    // mqtt-packet will not encode it: CONNECT by hand (clean session, username and password).
    const body = Buffer.concat([str('MQIsdp'), Buffer.from([3, 0xc2, 0, 0]), str(''), str('alice'), str('pw-a')]);
    r.sendBytes(Buffer.concat([Buffer.from([0x10, body.length]), body]));
    expect(await r.next('connack')).toMatchObject({ returnCode: 2 });
    await waitFor(() => r.closed);
  });
});

const mosquitto = '/usr/bin/mosquitto_pub';
describe.skipIf(!existsSync(mosquitto))('MQTT 3.1 with mosquitto_pub / mosquitto_sub -V mqttv31 (skipped where mosquitto-clients is not installed)', () => {
  it('mosquitto_sub receives what mosquitto_pub publishes at QoS 1, both speaking 3.1', async () => {
    tb = await startBroker();
    const args = ['-h', '127.0.0.1', '-p', String(tb.port), '-V', 'mqttv31', '-u', 'alice', '-P', 'pw-a', '-q', '1'];
    const sub = spawn('/usr/bin/mosquitto_sub', [...args, '-i', 'mq31-sub', '-t', 'mq31/#', '-C', '1', '-W', '10', '-v']);
    let out = '';
    sub.stdout.on('data', (d: Buffer) => (out += d.toString()));
    // 'close', not 'exit': a process can exit before its stdout has been read to the end.
    const exited = new Promise<number | null>((resolve) => sub.once('close', resolve));
    await waitFor(() => tb!.broker.clients().some((c) => c.clientId === 'mq31-sub' && c.subscriptions === 1), 5_000);
    // Asynchronously: the broker runs in this process.
    const status = await new Promise<number | null>((resolve) => spawn(mosquitto, [...args, '-i', 'mq31-pub', '-t', 'mq31/x', '-m', 'hello 3.1']).once('exit', resolve));
    expect(status).toBe(0);
    expect(await exited).toBe(0);
    expect(out.trim()).toBe('mq31/x hello 3.1');
  });
});

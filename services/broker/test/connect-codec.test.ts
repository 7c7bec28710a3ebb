/**
 * The hand-written CONNECT decoder (src/connect-codec.ts) against mqtt-packet: for every CONNECT
 * mqtt-packet's generator makes (MQTT 3.1, 3.1.1, 5.0; will, username and password flags) it
 * answers the very packet mqtt-packet's parser answers, or hands the frame to mqtt-packet
 * ('fallback'); for mutated and truncated frames it never answers a packet mqtt-packet would
 * refuse or read differently. What a malformed CONNECT gets from the broker is checked end to end.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { remainingLength } from './fuzz/packet-mutator.ts';
import mqttPacket, { type IConnectPacket, type Packet } from 'mqtt-packet';
import { decodeConnect } from '../src/connect-codec.ts';
import { RawClient, collect, startBroker, waitFor, type TestBroker } from './harness.ts';

/** mqtt-packet's reading of one frame: the packet, or the error it reports. */
function mqttPacketParse(frame: Buffer): Packet | Error {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  let out: Packet | Error | undefined;
  parser.on('packet', (p: Packet) => (out ??= p));
  parser.on('error', (e: Error) => (out ??= e));
  try {
    parser.parse(frame);
  } catch (e) {
    return e as Error;
  }
  return out ?? new Error('incomplete');
}

/** The fixed header's length of a generated frame (1 byte + its Remaining Length). */
function headerLenOf(frame: Buffer): number {
  let i = 1;
  while (frame[i]! & 0x80) i++;
  return i + 1;
}

function generate(packet: Omit<IConnectPacket, 'cmd'>): Buffer {
  // The generator refuses an empty client id with CleanSession=0 (a v3.1.1 client may not send
  // it; the broker answers it 0x02): made with CleanSession=1, the flag cleared by hand.
  const byHand = packet.clientId === '' && packet.clean === false;
  const frame = mqttPacket.generate({ cmd: 'connect', ...packet, ...(byHand ? { clean: true } : {}) } as IConnectPacket, { protocolVersion: packet.protocolVersion ?? 4 });
  const flagsAt = headerLenOf(frame) + 2 + packet.protocolId!.length + 1;
  if (byHand) frame[flagsAt] = frame[flagsAt]! & ~0x02;
  return frame;
}

const versions = [
  { protocolId: 'MQIsdp', protocolVersion: 3 },
  { protocolId: 'MQTT', protocolVersion: 4 },
  { protocolId: 'MQTT', protocolVersion: 5 },
] as const;

/** Every combination of the flags and fields the decoder reads, for one protocol level. */
function shapes(v: (typeof versions)[number]): Array<Omit<IConnectPacket, 'cmd'>> {
  const out: Array<Omit<IConnectPacket, 'cmd'>> = [];
  // mqtt-packet generates no empty client id at level 3 (3.1 requires one): a one-letter one there.
  for (const clientId of [v.protocolVersion === 3 ? 'a' : '', 'dev-1', 'ünïcødé-☃', 'x'.repeat(300)]) {
    for (const clean of [true, false]) {
      for (const keepalive of [0, 60, 65_535]) {
        for (const creds of [{}, { username: 'tok' }, { username: '', password: Buffer.alloc(0) }, { username: 'user-ü', password: Buffer.from([0, 1, 0xff, 0x80]) }]) {
          for (const will of [undefined, { topic: 'w/t', payload: Buffer.from('bye'), qos: 0, retain: false }, { topic: 'ẅ', payload: Buffer.alloc(0), qos: 1, retain: true }, { topic: 'w', payload: Buffer.alloc(20_000, 9), qos: 2, retain: false }] as const) {
            out.push({ ...v, clientId, clean, keepalive, ...creds, ...(will ? { will: { ...will } } : {}) });
          }
        }
      }
    }
  }
  return out;
}

describe('CONNECT decoder against mqtt-packet', () => {
  it.each(versions)('decodes every generated $protocolId level $protocolVersion CONNECT as mqtt-packet does', (v) => {
    let decoded = 0;
    for (const shape of shapes(v)) {
      const frame = generate(shape);
      const expected = mqttPacketParse(frame);
      expect(expected).not.toBeInstanceOf(Error);
      const got = decodeConnect(frame, headerLenOf(frame));
      expect(got, `shape ${decoded}: ${frame.subarray(0, 64).toString('hex')}`).toEqual(expected);
      decoded++;
    }
    expect(decoded).toBe(4 * 2 * 3 * 4 * 4);
  });

  it('a will payload is copied out of the frame; the password is a view, as mqtt-packet makes it', () => {
    const frame = generate({ protocolId: 'MQTT', protocolVersion: 4, clientId: 'c', clean: true, keepalive: 0, username: 'u', password: Buffer.from('pw'), will: { topic: 't', payload: Buffer.from('bye'), qos: 0, retain: false } });
    const got = decodeConnect(frame, 2) as IConnectPacket;
    frame.fill(0);
    expect(got.will!.payload).toEqual(Buffer.from('bye'));
    expect(got.password).toEqual(Buffer.alloc(2));
  });

  it('hands v5 CONNECTs with properties or will properties, and unusual pairings, to mqtt-packet', () => {
    const base = { protocolId: 'MQTT', protocolVersion: 5, clientId: 'c', clean: true, keepalive: 0 } as const;
    const cases: Buffer[] = [
      generate({ ...base, properties: { sessionExpiryInterval: 60 } }),
      generate({ ...base, properties: { receiveMaximum: 10, userProperties: { a: 'b' } } }),
      generate({ ...base, will: { topic: 't', payload: Buffer.from('x'), qos: 0, retain: false, properties: { willDelayInterval: 5 } } }),
      generate({ ...base, properties: { authenticationMethod: 'SCRAM' } }),
      // "MQTT" at level 3 and "MQIsdp" at level 4: mqtt-packet accepts both.
      generate({ protocolId: 'MQTT', protocolVersion: 3, clientId: 'c', clean: true, keepalive: 0 }),
      generate({ protocolId: 'MQIsdp', protocolVersion: 4, clientId: 'c', clean: true, keepalive: 0 }),
    ];
    for (const frame of cases) {
      expect(mqttPacketParse(frame)).not.toBeInstanceOf(Error);
      expect(decodeConnect(frame, headerLenOf(frame))).toBe('fallback');
    }
  });

  it.each([
    ['reserved flag bit 0 set', (f: Buffer) => (f[9] = f[9]! | 0x01)],
    ['Will QoS without a will', (f: Buffer) => (f[9] = f[9]! | 0x08)],
    ['Will Retain without a will', (f: Buffer) => (f[9] = f[9]! | 0x20)],
    ['protocol level 6', (f: Buffer) => (f[8] = 6)],
    ['bridge-mode level 0x84', (f: Buffer) => (f[8] = 0x84)],
    ['protocol name "MQTX"', (f: Buffer) => (f[7] = 0x58)],
    ['client id running past the frame', (f: Buffer) => (f[13] = 0xff)],
    ['password flag without a username', (f: Buffer) => (f[9] = (f[9]! & ~0x80) | 0x40)],
  ])('hands a malformed or unusual frame to mqtt-packet: %s', (_name, mutate) => {
    const frame = generate({ protocolId: 'MQTT', protocolVersion: 4, clientId: 'c', clean: true, keepalive: 0 });
    mutate(frame);
    expect(decodeConnect(frame, 2)).toBe('fallback');
  });

  it('never answers a packet mqtt-packet refuses or reads differently (100,000 mutated frames)', () => {
    // A small seeded generator (xorshift32): the same frames every run.
    let state = 0x9e3779b9;
    const rand = (n: number): number => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) % n;
    };
    const seeds = versions.flatMap((v) => shapes(v).filter((_, i) => i % 7 === 0)).filter((s) => (s.will?.payload.length ?? 0) < 1_000).map(generate);
    let fast = 0;
    let refusedByBoth = 0;
    for (let k = 0; k < 100_000; k++) {
      const seed = seeds[rand(seeds.length)]!;
      const hl = headerLenOf(seed);
      let body = Buffer.from(seed.subarray(hl));
      const edits = 1 + rand(3);
      for (let e = 0; e < edits; e++) {
        const what = rand(4);
        if (what === 0 && body.length > 0) body[rand(body.length)] = rand(256);
        else if (what === 1 && body.length > 0) body = body.subarray(0, rand(body.length));
        else if (what === 2) body = Buffer.concat([body, Buffer.from([rand(256)])]);
        else if (body.length > 10) body[rand(10)] = rand(256); // the variable header: name, level, flags
      }
      const frame = Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
      const got = decodeConnect(frame, 1 + remainingLength(body.length).length);
      const expected = mqttPacketParse(frame);
      if (got === 'fallback') {
        if (expected instanceof Error) refusedByBoth++;
        continue;
      }
      fast++;
      expect(expected, `frame ${frame.toString('hex')}`).not.toBeInstanceOf(Error);
      expect(got, `frame ${frame.toString('hex')}`).toEqual(expected);
    }
    // Both kinds of case were exercised.
    expect(fast).toBeGreaterThan(5_000);
    expect(refusedByBoth).toBeGreaterThan(5_000);
  });
});

describe('malformed CONNECTs at the broker (decoded by mqtt-packet, as before)', () => {
  let tb: TestBroker | undefined;
  const raws: RawClient[] = [];
  afterEach(async () => {
    raws.splice(0).forEach((r) => r.close());
    await tb?.close();
    tb = undefined;
  });
  const raw = async (port: number, version = 4): Promise<RawClient> => {
    const r = new RawClient(port, version);
    raws.push(r);
    await r.ready();
    return r;
  };

  const connectBytes = (version: 3 | 4 | 5, extra: Partial<IConnectPacket> = {}) =>
    generate({ protocolId: version === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: version, clientId: 'c1', clean: true, keepalive: 0, username: 'alice', password: Buffer.from('pw-a'), ...extra });

  it.each([3, 4, 5] as const)('a well-formed level %i CONNECT (decoded by hand) is accepted, and its will kept', async (version) => {
    tb = await startBroker();
    const watcher = await tb.connect({ clientId: 'watcher' });
    const wills = collect(watcher);
    await watcher.subscribeAsync('w/t', { qos: 1 });
    const r = await raw(tb.port, version);
    r.sendBytes(connectBytes(version, { will: { topic: 'w/t', payload: Buffer.from('bye'), qos: 1, retain: false } }));
    const ack = await r.next('connack');
    expect(ack).toMatchObject(version === 5 ? { reasonCode: 0 } : { returnCode: 0 });
    expect(tb.broker.clients().find((c) => c.clientId === 'c1')).toMatchObject({ account: 'acc_a', protocol: version === 5 ? 'mqtt5' : version === 3 ? 'mqtt3.1' : 'mqtt3.1.1' });
    expect(tb.metrics.get('connects_accepted')).toBe(2);
    // Gone without a DISCONNECT: its will is published [MQTT-3.1.2-8].
    r.close();
    await waitFor(() => wills.length === 1);
    expect(wills[0]).toMatchObject({ topic: 'w/t', payload: 'bye' });
  });

  it('a wrong password in a hand-decoded CONNECT → CONNACK 4 (v3.1.1) / 0x86 (v5)', async () => {
    tb = await startBroker();
    const r4 = await raw(tb.port);
    r4.sendBytes(connectBytes(4, { password: Buffer.from('nope') }));
    expect(await r4.next('connack')).toMatchObject({ returnCode: 4 });
    const r5 = await raw(tb.port, 5);
    r5.sendBytes(connectBytes(5, { password: Buffer.from('nope') }));
    expect(await r5.next('connack')).toMatchObject({ reasonCode: 0x86 });
    await waitFor(() => r4.closed && r5.closed);
  });

  it('unsupported protocol level → CONNACK rc 1 and close', async () => {
    tb = await startBroker();
    const r = await raw(tb.port);
    const bytes = connectBytes(4);
    bytes[8] = 6;
    r.sendBytes(bytes);
    expect(await r.next('connack')).toMatchObject({ returnCode: 1 });
    await waitFor(() => r.closed);
  });

  it.each([
    ['reserved flag bit 0 set', (f: Buffer) => (f[9] = f[9]! | 0x01)],
    ['Will QoS without a will', (f: Buffer) => (f[9] = f[9]! | 0x08)],
    ['client id running past the frame', (f: Buffer) => (f[13] = 0xff)],
    ['protocol name "MQTX"', (f: Buffer) => (f[7] = 0x58)],
  ])('%s → closed without CONNACK, counted as a protocol error', async (_name, mutate) => {
    tb = await startBroker();
    const r = await raw(tb.port);
    const bytes = connectBytes(4);
    mutate(bytes);
    r.sendBytes(bytes);
    await waitFor(() => r.closed);
    expect(r.packets.filter((p) => p.cmd === 'connack')).toEqual([]);
    expect(tb.metrics.get('protocol_errors')).toBe(1);
    expect(tb.metrics.get('connects_accepted') ?? 0).toBe(0);
  });
});

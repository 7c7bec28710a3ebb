import { describe, expect, it } from 'vitest';
import mqttPacket from 'mqtt-packet';
import { scanSubscribeFrame, truncateSubscribeFrame } from './subscribe-frame.ts';

type Sub = { topic: string; qos: 0 | 1 | 2; nl?: boolean; rap?: boolean; rh?: number };

function frameOf(subscriptions: Sub[], version: 4 | 5, properties?: object): { frame: Buffer; headerLen: number } {
  const frame = mqttPacket.generate({ cmd: 'subscribe', messageId: 42, subscriptions, ...(properties ? { properties } : {}) } as mqttPacket.ISubscribePacket, { protocolVersion: version });
  let headerLen = 1;
  while (frame[headerLen]! & 0x80) headerLen++;
  return { frame, headerLen: headerLen + 1 };
}

function parse(bytes: Uint8Array, version: 4 | 5): mqttPacket.ISubscribePacket {
  const parser = mqttPacket.parser({ protocolVersion: version });
  const out: mqttPacket.Packet[] = [];
  parser.on('packet', (p) => out.push(p));
  parser.on('error', (e) => {
    throw e;
  });
  parser.parse(Buffer.from(bytes));
  expect(out).toHaveLength(1);
  return out[0] as mqttPacket.ISubscribePacket;
}

const subs = (n: number): Sub[] => Array.from({ length: n }, (_, i) => ({ topic: `t/${i}/+`, qos: (i % 3) as 0 | 1 | 2 }));

describe('scanSubscribeFrame', () => {
  it('at or under the cap: the frame is parsed as it is', () => {
    const { frame, headerLen } = frameOf(subs(3), 4);
    expect(scanSubscribeFrame(frame, headerLen, false, 3)).toEqual({ kind: 'within' });
  });

  it.each([4, 5] as const)('over the cap (v%i): cut after the last kept filter, the rest counted', (version) => {
    const props = version === 5 ? { subscriptionIdentifier: 7, userProperties: { a: 'b' } } : undefined;
    const { frame, headerLen } = frameOf(subs(300), version, props);
    const scan = scanSubscribeFrame(frame, headerLen, version === 5, 128);
    expect(scan).toMatchObject({ kind: 'over', excess: 172 });
    const cut = truncateSubscribeFrame(frame, headerLen, (scan as { cutAt: number }).cutAt);
    const parsed = parse(cut, version);
    expect(parsed.messageId).toBe(42);
    expect(parsed.subscriptions).toEqual(parse(frame, version).subscriptions.slice(0, 128));
    if (version === 5) expect(parsed.properties).toEqual({ subscriptionIdentifier: 7, userProperties: { a: 'b' } });
  });

  it('re-encodes a Remaining Length that shrinks from 3 bytes to 2', () => {
    const many = Array.from({ length: 5_000 }, (_, i) => ({ topic: `some/longer/topic/${i}`, qos: 1 as const }));
    const { frame, headerLen } = frameOf(many, 4);
    expect(headerLen).toBe(4);
    const scan = scanSubscribeFrame(frame, headerLen, false, 10);
    const cut = truncateSubscribeFrame(frame, headerLen, (scan as { cutAt: number }).cutAt);
    expect(parse(cut, 4).subscriptions.map((s) => s.topic)).toEqual(many.slice(0, 10).map((s) => s.topic));
  });

  it('100,000 filters are counted, not parsed', () => {
    const { frame, headerLen } = frameOf(Array.from({ length: 100_000 }, (_, i) => ({ topic: `h/${i}`, qos: 0 as const })), 5);
    expect(scanSubscribeFrame(frame, headerLen, true, 128)).toMatchObject({ kind: 'over', excess: 99_872 });
  });

  it('[MQTT-3.8.3-4/5] a reserved options bit or QoS 3 past the cap is still malformed', () => {
    const v5 = frameOf(subs(5), 5);
    v5.frame[v5.frame.length - 1] = 0x40; // bit 6 reserved in v5
    expect(scanSubscribeFrame(v5.frame, v5.headerLen, true, 2)).toEqual({ kind: 'malformed' });
    const v4 = frameOf(subs(5), 4);
    v4.frame[v4.frame.length - 1] = 0x04; // bits 2–7 reserved in v3.1.1 (No Local is v5 only)
    expect(scanSubscribeFrame(v4.frame, v4.headerLen, false, 2)).toEqual({ kind: 'malformed' });
    v4.frame[v4.frame.length - 1] = 0x03;
    expect(scanSubscribeFrame(v4.frame, v4.headerLen, false, 2)).toEqual({ kind: 'malformed' });
  });

  it('a filter list that does not frame (a length running past the end, a missing options byte) is malformed', () => {
    const { frame, headerLen } = frameOf(subs(5), 4);
    expect(scanSubscribeFrame(frame.subarray(0, frame.length - 1), headerLen, false, 2)).toEqual({ kind: 'malformed' });
    expect(scanSubscribeFrame(frame.subarray(0, frame.length - 3), headerLen, false, 2)).toEqual({ kind: 'malformed' });
  });
});

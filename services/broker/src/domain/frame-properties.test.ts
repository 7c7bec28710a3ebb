import { describe, expect, it } from 'vitest';
import mqttPacket from 'mqtt-packet';
import { checkFrameProperties, scanPropertyList } from './frame-properties.ts';

const props = (...bytes: number[][]) => {
  const body = bytes.flat();
  return [body.length, ...body];
};
const PFI = (v: number) => [0x01, v];
const MEI = (s: number) => [0x02, 0, 0, 0, s];
const utf8 = (id: number, text: string) => [id, 0, text.length, ...Buffer.from(text)];
const user = (k: string, v: string) => [0x26, 0, k.length, ...Buffer.from(k), 0, v.length, ...Buffer.from(v)];

describe('scanPropertyList', () => {
  it('answers the offset after a valid list; User Property may repeat', () => {
    const list = Uint8Array.from(props(PFI(1), MEI(9), utf8(0x03, 'text/plain'), user('a', '1'), user('a', '2')));
    expect(scanPropertyList(list, 0, list.length)).toBe(list.length);
  });

  it.each([
    ['Payload Format Indicator', [PFI(0), PFI(0)]],
    ['Message Expiry Interval', [MEI(0), MEI(5)]],
    ['Content Type', [utf8(0x03, 'a'), utf8(0x03, 'b')]],
    ['Reason String', [utf8(0x1f, 'a'), user('k', 'v'), utf8(0x1f, 'b')]],
    ['Topic Alias Maximum (identifier ≥ 32)', [[0x22, 0, 1], [0x22, 0, 2]]],
  ])('[MQTT-2.2.2-2] %s twice → -0x82', (_name, entries) => {
    const list = Uint8Array.from(props(...(entries as number[][])));
    expect(scanPropertyList(list, 0, list.length)).toBe(-0x82);
  });

  it('truncated, unknown identifier, over-long varint → -0x81', () => {
    expect(scanPropertyList(Uint8Array.from([5, 0x01]), 0, 2)).toBe(-0x81);
    expect(scanPropertyList(Uint8Array.from([2, 0x7f, 0]), 0, 3)).toBe(-0x81);
    expect(scanPropertyList(Uint8Array.from([3, 0x03, 0, 9]), 0, 4)).toBe(-0x81);
    expect(scanPropertyList(Uint8Array.from([0x80, 0x80, 0x80, 0x80, 1]), 0, 5)).toBe(-0x81);
  });

  it('a forbidden identifier → -0x82', () => {
    const list = Uint8Array.from(props([0x0b, 1]));
    expect(scanPropertyList(list, 0, list.length, 0x0b)).toBe(-0x82);
  });
});

describe('checkFrameProperties', () => {
  const gen = (packet: object, v = 5) => mqttPacket.generate(packet as mqttPacket.Packet, { protocolVersion: v });
  const headerLen = (f: Buffer) => {
    let i = 1;
    while (f[i]! & 0x80) i++;
    return i + 1;
  };
  const check = (f: Buffer, v5 = true) => checkFrameProperties(f, headerLen(f), v5);

  it('frames mqtt-packet generates (no duplicates possible) pass, on every packet type with properties', () => {
    const frames = [
      gen({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'c', clean: true, keepalive: 0, properties: { sessionExpiryInterval: 5, receiveMaximum: 9 }, will: { topic: 't', payload: Buffer.from('w'), qos: 0, retain: false, properties: { willDelayInterval: 1, contentType: 'x' } } }),
      gen({ cmd: 'publish', topic: 'a', payload: Buffer.from('p'), qos: 1, messageId: 1, retain: false, dup: false, properties: { payloadFormatIndicator: true, messageExpiryInterval: 3, userProperties: { a: ['1', '2'] } } }),
      gen({ cmd: 'puback', messageId: 1, reasonCode: 0x10, properties: { reasonString: 'r' } }),
      gen({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }], properties: { subscriptionIdentifier: 4 } }),
      gen({ cmd: 'unsubscribe', messageId: 1, unsubscriptions: ['a'], properties: { userProperties: { k: 'v' } } }),
      gen({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } }),
    ];
    for (const f of frames) expect(check(f)).toBe(0);
  });

  it('a PUBLISH with a duplicated property behind a QoS 1 packet id → 0x82; v3.1.1 frames are not read', () => {
    const base = gen({ cmd: 'publish', topic: 'a/b', payload: Buffer.from('p'), qos: 1, messageId: 7, retain: false, dup: false, properties: { contentType: 'x' } });
    const h = headerLen(base);
    // Replace the property list [len, 0x03, 0, 1, 'x'] with Content Type twice.
    const at = h + 2 + 3 + 2;
    const dup = Buffer.from(props(utf8(0x03, 'x'), utf8(0x03, 'y')));
    const body = Buffer.concat([base.subarray(h, at), dup, Buffer.from('p')]);
    const frame = Buffer.concat([Buffer.from([base[0]!, body.length]), body]);
    expect(check(frame)).toBe(0x82);
    expect(check(frame, false)).toBe(0);
  });

  it('a client PUBLISH carrying a Subscription Identifier → 0x82 [MQTT-3.3.4-6]', () => {
    const frame = gen({ cmd: 'publish', topic: 'a', payload: Buffer.from('p'), qos: 0, retain: false, dup: false, properties: { subscriptionIdentifier: 3 } });
    expect(check(frame)).toBe(0x82);
  });
});

import { describe, expect, it } from 'vitest';
import mqttPacket from 'mqtt-packet';
import { decodePublish, encodePublish } from '../src/publish-codec.ts';

describe('publish codec', () => {
  it.each([
    [0, false, 4],
    [1, true, 4],
    [2, false, 5],
  ] as const)('round-trips with mqtt-packet (qos %i, retain %s, v%i)', (qos, retain, version) => {
    for (const size of [0, 10, 200, 20_000]) {
      const payload = Buffer.alloc(size, 7);
      const buf = encodePublish('tópico/x', payload, qos, retain, false, qos ? 42 : 0, version === 5);
      const parser = mqttPacket.parser({ protocolVersion: version });
      const got: mqttPacket.Packet[] = [];
      parser.on('packet', (p) => got.push(p));
      parser.parse(buf);
      expect(got[0]).toMatchObject({ cmd: 'publish', topic: 'tópico/x', qos, retain });
      const headerLen = buf.length - (got[0]!.length ?? 0);
      const decoded = decodePublish(buf, headerLen, version === 5);
      expect(decoded).toMatchObject({ topic: 'tópico/x', qos, retain, ...(qos ? { messageId: 42 } : {}) });
      expect((decoded as mqttPacket.IPublishPacket).payload).toEqual(payload);
    }
  });

  it('refuses QoS 3, truncated frames and ill-formed UTF-8', () => {
    expect(decodePublish(Buffer.from([0x36, 0x02, 0x00, 0x00]), 2, false)).toBe('malformed');
    expect(decodePublish(Buffer.from([0x30, 0x03, 0x00, 0x05, 0x61]), 2, false)).toBe('malformed');
    expect(decodePublish(Buffer.from([0x30, 0x04, 0x00, 0x02, 0xc3, 0x28]), 2, false)).toBe('malformed');
  });

  it('hands v5 PUBLISH with properties to mqtt-packet', () => {
    const buf = mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { contentType: 'a' } }, { protocolVersion: 5 });
    expect(decodePublish(buf, 2, true)).toBe('fallback');
  });
});

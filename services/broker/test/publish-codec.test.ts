import { describe, expect, it } from 'vitest';
import mqttPacket from 'mqtt-packet';
import { decodePublish, encodeAck, encodeConnackAccepted, encodePublish, encodeSuback } from '../src/publish-codec.ts';
import { OutboundTopicAliases } from '../src/outbound-topic-aliases.ts';

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

  const parse = (buf: Buffer, version: number): mqttPacket.Packet[] => {
    const parser = mqttPacket.parser({ protocolVersion: version });
    const got: mqttPacket.Packet[] = [];
    parser.on('packet', (p) => got.push(p));
    parser.parse(buf);
    return got;
  };

  it('encodes a v5 Topic Alias as the only property, with or without the topic', () => {
    expect(parse(encodePublish('a/b', Buffer.from('x'), 1, false, false, 9, true, 300), 5)[0]).toMatchObject({ topic: 'a/b', messageId: 9, properties: { topicAlias: 300 } });
    expect(parse(encodePublish('', Buffer.from('x'), 0, true, false, 0, true, 1), 5)[0]).toMatchObject({ topic: '', retain: true, properties: { topicAlias: 1 } });
  });

  it.each([4, 5])('encodes PUBACK, PUBREC, PUBREL and PUBCOMP as mqtt-packet reads them (v%i)', (version) => {
    for (const cmd of ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const) {
      expect(parse(encodeAck(cmd, 65_535), version)[0]).toMatchObject({ cmd, messageId: 65_535 });
    }
  });
});

describe('OutboundTopicAliases', () => {
  it('hands out 1..maximum, then re-maps the least recently used alias', () => {
    const aliases = new OutboundTopicAliases(2);
    const send = (topic: string) => {
      const known = aliases.lookup(topic);
      const alias = known || aliases.next();
      aliases.sent(topic, alias);
      return known ? `=${alias}` : `+${alias}`;
    };
    expect(['a', 'b', 'a', 'c', 'b', 'a', 'c'].map(send)).toEqual(['+1', '+2', '=1', '+2', '+1', '+2', '+1']);
    expect(aliases.size).toBe(2);
  });
});

describe('hand-framed CONNACK and SUBACK', () => {
  it.each([
    [3, false],
    [4, false],
    [4, true],
  ] as const)('CONNACK accepted (level %i, session present %s) is the bytes mqtt-packet writes', (protocolVersion, sessionPresent) => {
    expect(encodeConnackAccepted(sessionPresent)).toEqual(mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent }, { protocolVersion }));
  });

  it.each([4, 5] as const)('SUBACK (v%i) is the bytes mqtt-packet writes, the refused codes after the granted ones', (protocolVersion) => {
    const v5 = protocolVersion === 5;
    const refusedCode = v5 ? 0x97 : 0x80;
    for (const [granted, refused] of [
      [[0, 1, 2], 0],
      [[1, v5 ? 0x87 : 0x80], 3],
      [Array.from({ length: 128 }, (_, i) => i % 3), 20_000],
    ] as const) {
      const expected = mqttPacket.generate({ cmd: 'suback', messageId: 513, granted: [...granted, ...Array<number>(refused).fill(refusedCode)] }, { protocolVersion });
      expect(encodeSuback(513, granted, refused, refusedCode, v5)).toEqual(expected);
    }
  });
});

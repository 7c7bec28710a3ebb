import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeClusterMessage, encodeClusterMessage, type ClusterMessage } from './cluster-message.ts';

const message = fc.record({
  topic: fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }),
  payload: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
  qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
  retain: fc.boolean(),
  properties: fc.option(
    fc.record(
      {
        payloadFormatIndicator: fc.boolean(),
        responseTopic: fc.string(),
        correlationData: fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a)),
        userProperties: fc.dictionary(fc.string({ minLength: 1 }), fc.oneof(fc.string(), fc.array(fc.string(), { minLength: 1 }))),
        contentType: fc.string(),
      },
      { requiredKeys: [] },
    ),
    { nil: undefined },
  ),
  expiresAtMs: fc.option(fc.integer({ min: 1_000_000, max: 2_000_000 }), { nil: undefined }),
});

describe('the frame between edges', () => {
  it('carries every field; message expiry as the remaining lifetime, re-anchored on the receiver clock', () => {
    fc.assert(
      fc.property(message, fc.string(), fc.nat(), fc.string(), fc.integer({ min: -5_000, max: 5_000 }), (msg, origin, seq, clientId, skew) => {
        const sent: ClusterMessage = { origin, seq, account: 'acc_x', clientId, message: msg };
        const sentAt = 1_000_000;
        const got = decodeClusterMessage(encodeClusterMessage(sent, sentAt), sentAt + skew)!;
        expect(got).toBeDefined();
        expect(got.origin).toBe(origin);
        expect(got.seq).toBe(seq);
        expect(got.clientId).toBe(clientId);
        expect(got.message.topic).toBe(msg.topic);
        expect(Buffer.compare(got.message.payload, msg.payload)).toBe(0);
        expect([got.message.qos, got.message.retain]).toEqual([msg.qos, msg.retain]);
        expect(got.message.properties).toEqual(msg.properties);
        expect(got.message.expiresAtMs).toBe(msg.expiresAtMs === undefined ? undefined : Math.max(0, msg.expiresAtMs - sentAt) + sentAt + skew);
      }),
      { numRuns: 500 },
    );
  });

  it.each([
    ['empty', Buffer.alloc(0)],
    ['short', Buffer.from([0, 0])],
    ['header longer than the frame', Buffer.from([0, 0, 0, 200, 0x7b])],
    ['not JSON', Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from('abc')])],
    ['JSON missing fields', Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from('{}')])],
    ['bad QoS', (() => { const h = Buffer.from(JSON.stringify({ o: 'e', s: 1, a: 'a', c: '', t: 't', q: 3 })); const l = Buffer.alloc(4); l.writeUInt32BE(h.length); return Buffer.concat([l, h]); })()],
  ])('refuses a frame that is not ours (%s) with undefined, never a throw', (_name, data) => {
    expect(decodeClusterMessage(data, 0)).toBeUndefined();
  });
});

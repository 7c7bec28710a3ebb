import { describe, expect, it } from 'vitest';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AuthorizeRequestSchema } from '#gen/tollgate/authz/v1/authz_pb.js';
import { TEXT_CHECKED } from '#libs/rpc/request-text.ts';
import { createRng } from '../../../../test/harness/seeded-rng.ts';
import { decodeAuthorizeRequest } from './authorize-request.ts';

const encode = (init: Parameters<typeof create<typeof AuthorizeRequestSchema>>[1]) => Buffer.from(toBinary(AuthorizeRequestSchema, create(AuthorizeRequestSchema, init)));

/** What protobuf-es makes of `bytes`, or the error it throws. */
function reference(bytes: Uint8Array): unknown {
  try {
    return fromBinary(AuthorizeRequestSchema, bytes);
  } catch (error) {
    return error;
  }
}

/** The decoder's message is protobuf-es's, field for field, with the same own keys in the same order, and marked text-checked. */
function expectSameMessage(ours: unknown, bytes: Uint8Array): void {
  const theirs = reference(bytes);
  expect(theirs).not.toBeInstanceOf(Error);
  expect((ours as { [TEXT_CHECKED]?: boolean })[TEXT_CHECKED]).toBe(true);
  const unmarked = { ...(ours as object) } as Record<PropertyKey, unknown>;
  delete unmarked[TEXT_CHECKED];
  expect(unmarked).toStrictEqual(theirs);
  expect(Object.keys(ours as object)).toEqual(Object.keys(theirs as object));
  const credential = (ours as { credential?: object }).credential;
  if (credential) expect(Object.keys(credential)).toEqual(Object.keys((theirs as { credential: object }).credential));
}

const SECRET = `tg_${'A1b2C3d4'.repeat(11).slice(0, 86)}abcdef`;

describe('decodeAuthorizeRequest', () => {
  it('reads what protobuf-es writes into the message protobuf-es reads', () => {
    const ascii = (random: () => number, max: number) => Array.from({ length: Math.floor(random() * max) }, () => String.fromCharCode(1 + Math.floor(random() * 126))).join('');
    const random = createRng(20261203);
    const shapes = [
      { credential: { bearer: SECRET }, action: 'publish', resource: 'mqtt:devices/c1/sensor7/temp', clientId: 'c1' },
      { credential: { tokenId: 'tok_01abc' }, action: 'subscribe', resource: 'mqtt:#', clientId: 'dev-9', peerIp: '10.0.0.7', accountId: 'acc_01xyz' },
      { credential: { username: 'alice', password: 'p'.repeat(300) }, action: 'connect' },
      { action: 'connect' },
      {},
      { credential: {} },
      { resource: 'r'.repeat(20_000) },
    ];
    for (const shape of shapes) {
      const bytes = encode(shape);
      expectSameMessage(decodeAuthorizeRequest(bytes), bytes);
    }
    for (let i = 0; i < 2_000; i++) {
      const pick = () => random() < 0.5;
      const bytes = encode({
        ...(pick() ? { credential: { tokenId: pick() ? ascii(random, 40) : '', bearer: pick() ? ascii(random, 120) : '', username: pick() ? ascii(random, 30) : '', password: pick() ? ascii(random, 200) : '' } } : {}),
        action: ascii(random, 12),
        resource: ascii(random, 300),
        clientId: ascii(random, 40),
        peerIp: pick() ? ascii(random, 45) : '',
        accountId: pick() ? ascii(random, 30) : '',
      });
      expectSameMessage(decodeAuthorizeRequest(bytes), bytes);
    }
  });

  it('reads fields in any order and empty strings written explicitly, as protobuf-es does', () => {
    // resource (3), then credential (1) holding password (4) before bearer (2), then action (2) empty.
    const bytes = Buffer.from([0x1a, 0x01, 0x72, 0x0a, 0x06, 0x22, 0x01, 0x70, 0x12, 0x01, 0x62, 0x12, 0x00]);
    const ours = decodeAuthorizeRequest(bytes);
    expectSameMessage(ours, bytes);
    expect(ours).toMatchObject({ resource: 'r', action: '', credential: { password: 'p', bearer: 'b' } });
    // A length written in more bytes than it needs (a legal varint): read the same.
    const padded = Buffer.from([0x12, 0x87, 0x80, 0x00, ...Buffer.from('publish')]);
    expectSameMessage(decodeAuthorizeRequest(padded), padded);
  });

  it('leaves every other shape to protobuf-es', () => {
    const base = encode({ credential: { bearer: SECRET }, action: 'publish', resource: 'mqtt:a/b', clientId: 'c1' });
    const declined: [string, Buffer][] = [
      ['a non-ASCII string', encode({ action: 'publish', resource: 'mqtt:капуста/é' })],
      ['a NUL byte', encode({ action: 'publish', clientId: 'c\u00001' })],
      ['a NUL byte in the credential', encode({ credential: { username: 'a\u0000b' } })],
      ['an unknown field', Buffer.concat([base, Buffer.from([0x3a, 0x01, 0x78])])],
      ['an unknown field in the credential', Buffer.from([0x0a, 0x03, 0x2a, 0x01, 0x78])],
      ['a field twice (last one wins in protobuf)', Buffer.concat([base, Buffer.from([0x12, 0x01, 0x78])])],
      ['the credential twice (merged in protobuf)', Buffer.concat([base, Buffer.from([0x0a, 0x03, 0x1a, 0x01, 0x75])])],
      ['a varint where a string belongs', Buffer.from([0x10, 0x01])],
      ['a multi-byte tag', Buffer.from([0x82, 0x01, 0x01, 0x78])],
      ['a truncated length', Buffer.from([0x12])],
      ['a length past the end', Buffer.from([0x12, 0x05, 0x61])],
      ['a credential length past the end', Buffer.from([0x0a, 0x05, 0x12, 0x01, 0x61])],
      ['a string past its credential', Buffer.from([0x0a, 0x02, 0x12, 0x05, 0x61, 0x62, 0x63, 0x64, 0x65])],
      ['a five-byte length', Buffer.from([0x12, 0x80, 0x80, 0x80, 0x80, 0x00])],
    ];
    for (const [name, bytes] of declined) expect(decodeAuthorizeRequest(bytes), name).toBeUndefined();
  });

  it('never makes a message protobuf-es would not: 100,000 mutated requests', () => {
    const random = createRng(7);
    const seeds = [
      encode({ credential: { bearer: SECRET }, action: 'publish', resource: 'mqtt:devices/c1/sensor7/temp', clientId: 'c1' }),
      encode({ credential: { username: 'alice', password: 'secret' }, action: 'connect', clientId: 'c1', peerIp: '127.0.0.1', accountId: 'acc_1' }),
      encode({ credential: { tokenId: 'tok_1' }, action: 'subscribe', resource: 'mqtt:#' }),
    ];
    let accepted = 0;
    for (let i = 0; i < 100_000; i++) {
      const bytes = Buffer.from(seeds[i % seeds.length]!);
      const edits = 1 + Math.floor(random() * 3);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(random() * bytes.length);
        const kind = random();
        if (kind < 0.6) bytes[at] = Math.floor(random() * 256);
        else if (kind < 0.8) bytes[at] = bytes[at]! ^ (1 << Math.floor(random() * 8));
        else bytes[at] = [0x00, 0x7f, 0x80, 0xff, 0x0a, 0x12][Math.floor(random() * 6)]!;
      }
      const cut = random() < 0.2 ? bytes.subarray(0, Math.floor(random() * bytes.length)) : bytes;
      const ours = decodeAuthorizeRequest(cut);
      if (ours === undefined) continue;
      accepted++;
      expectSameMessage(ours, cut);
    }
    // Most single-byte edits of ASCII text stay decodable: the comparison above ran on many.
    expect(accepted).toBeGreaterThan(20_000);
  });
});

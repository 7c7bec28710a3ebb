import { describe, expect, it } from 'vitest';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AuthorizeResponseSchema } from '#gen/tollgate/authz/v1/authz_pb.js';
import { encodeAuthorizeResponse } from './authorize-response.ts';

const reference = (allowed: boolean, reason: string, cacheTtlMs: number, accountId: string) =>
  Buffer.from(toBinary(AuthorizeResponseSchema, create(AuthorizeResponseSchema, { allowed, reason, cacheTtlMs: BigInt(cacheTtlMs), accountId })));

describe('encodeAuthorizeResponse', () => {
  it('writes what protobuf-es writes, byte for byte', () => {
    const reasons = ['', 'ALLOWED', 'NO_MATCHING_RULE', 'x'.repeat(127), 'y'.repeat(128), 'z'.repeat(20_000), 'é€😀', '\ud800 lone'];
    const ttls = [0, 1, 127, 128, 16_383, 16_384, 60_000, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER];
    const accounts = ['', 'acc_01hzyx', 'ü'.repeat(70)];
    let cases = 0;
    for (const allowed of [true, false])
      for (const reason of reasons)
        for (const ttl of ttls)
          for (const account of accounts) {
            const ours = encodeAuthorizeResponse(allowed, reason, ttl, account)!;
            expect(ours.equals(reference(allowed, reason, ttl, account))).toBe(true);
            cases++;
          }
    expect(cases).toBe(2 * reasons.length * ttls.length * accounts.length);
    expect(fromBinary(AuthorizeResponseSchema, encodeAuthorizeResponse(true, 'ALLOWED', 60_000, 'acc_1')!)).toMatchObject({ allowed: true, reason: 'ALLOWED', cacheTtlMs: 60_000n, accountId: 'acc_1' });
  });

  it('leaves a TTL it cannot write exactly to protobuf-es', () => {
    for (const ttl of [-1, 0.5, Number.NaN, 2 ** 53]) expect(encodeAuthorizeResponse(true, 'ALLOWED', ttl, 'acc_1')).toBeUndefined();
  });
});

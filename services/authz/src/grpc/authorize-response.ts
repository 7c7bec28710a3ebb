import type { AuthorizeResponseSchema } from '#gen/tollgate/authz/v1/authz_pb.js';
import type { EncodedMessage } from '#libs/rpc/index.ts';

const varintSize = (n: number): number => {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
};

function writeVarint(out: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  out[at++] = n;
  return at;
}

function writeString(out: Buffer, at: number, tag: number, value: string, length: number): number {
  out[at++] = tag;
  at = writeVarint(out, at, length);
  return at + out.write(value, at, length, 'utf8');
}

/**
 * `tollgate.authz.v1.AuthorizeResponse` in protobuf binary, byte for byte what protobuf-es's
 * `toBinary` writes (fields in number order, proto3 defaults left out; authorize-response.test.ts),
 * without a message object, a writer and its buffer growth on the hottest RPC. Undefined for a TTL
 * that is not a safe non-negative integer: the caller answers through protobuf-es then.
 */
export function encodeAuthorizeResponse(allowed: boolean, reason: string, cacheTtlMs: number, accountId: string): EncodedMessage<typeof AuthorizeResponseSchema> | undefined {
  if (!Number.isSafeInteger(cacheTtlMs) || cacheTtlMs < 0) return undefined;
  const reasonLength = Buffer.byteLength(reason, 'utf8');
  const accountLength = Buffer.byteLength(accountId, 'utf8');
  let size = allowed ? 2 : 0;
  if (reasonLength) size += 1 + varintSize(reasonLength) + reasonLength;
  if (cacheTtlMs) size += 1 + varintSize(cacheTtlMs);
  if (accountLength) size += 1 + varintSize(accountLength) + accountLength;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  if (allowed) {
    out[at++] = 0x08; // field 1, varint
    out[at++] = 1;
  }
  if (reasonLength) at = writeString(out, at, 0x12, reason, reasonLength); // field 2, length-delimited
  if (cacheTtlMs) {
    out[at++] = 0x18; // field 3, varint
    at = writeVarint(out, at, cacheTtlMs);
  }
  if (accountLength) writeString(out, at, 0x22, accountId, accountLength); // field 4, length-delimited
  return out;
}

import type { AuthorizeRequest, Credential } from '#gen/tollgate/authz/v1/authz_pb.js';
import { TEXT_CHECKED } from '#libs/rpc/request-text.ts';

/**
 * ASCII text without NUL (bytes 0x01–0x7f) read from `bytes[start, end)`, or undefined for any other
 * byte: such text is well-formed for request-text.ts by construction (no NUL, no surrogate, no
 * noncharacter), and its UTF-8 is its Latin-1.
 */
function asciiText(bytes: Buffer, start: number, end: number): string | undefined {
  for (let i = start; i < end; i++) {
    const b = bytes[i]!;
    if (b === 0 || b > 0x7f) return undefined;
  }
  return start === end ? '' : bytes.toString('latin1', start, end);
}

/** Where the last length varint read by `readLength` ended. */
let lengthEnd = 0;

/** The length varint at `at` (at most four bytes; its end in `lengthEnd`), or -1. */
function readLength(bytes: Buffer, at: number, end: number): number {
  let length = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (at >= end) return -1;
    const b = bytes[at++]!;
    length |= (b & 0x7f) << shift;
    if (b < 0x80) {
      lengthEnd = at;
      return length;
    }
  }
  return -1;
}

/**
 * Where each length-delimited field of the message in `bytes[start, end)` lies: field n's bytes at
 * `[at[2n], at[2n + 1])`, -1 when absent. False for anything else — a field number above `maxField`,
 * another wire type, a field given twice (protobuf's last-one-wins and message merging), a length
 * past the end — which the fast path leaves to protobuf-es.
 */
function scanFields(bytes: Buffer, start: number, end: number, maxField: number, at: Int32Array): boolean {
  at.fill(-1);
  let pos = start;
  while (pos < end) {
    const tag = bytes[pos++]!;
    // Fields 1 … maxField (≤ 15), length-delimited: one-byte tags; each at most once.
    const field = tag >>> 3;
    if ((tag & 7) !== 2 || field < 1 || field > maxField || at[2 * field]! >= 0) return false;
    const length = readLength(bytes, pos, end);
    if (length < 0) return false;
    pos = lengthEnd;
    if (length > end - pos) return false;
    at[2 * field] = pos;
    at[2 * field + 1] = pos += length;
  }
  return true;
}

/** Field `field`'s ASCII text as scanned into `at` ('' when absent), or undefined (see asciiText). */
const textOf = (bytes: Buffer, at: Int32Array, field: number): string | undefined => (at[2 * field]! < 0 ? '' : asciiText(bytes, at[2 * field]!, at[2 * field + 1]!));

// One scan at a time (decoding is synchronous): the field positions need no allocation per request.
const credentialFields = new Int32Array(2 * 5);
const requestFields = new Int32Array(2 * 7);

function decodeCredential(bytes: Buffer, start: number, end: number): Credential | undefined {
  if (!scanFields(bytes, start, end, 4, credentialFields)) return undefined;
  const tokenId = textOf(bytes, credentialFields, 1);
  const bearer = textOf(bytes, credentialFields, 2);
  const username = textOf(bytes, credentialFields, 3);
  const password = textOf(bytes, credentialFields, 4);
  if (tokenId === undefined || bearer === undefined || username === undefined || password === undefined) return undefined;
  return { $typeName: 'tollgate.authz.v1.Credential', tokenId, bearer, username, password };
}

/**
 * `tollgate.authz.v1.AuthorizeRequest` decoded by hand: the hottest request of the mesh (every
 * MQTT CONNECT, PUBLISH and SUBSCRIBE a delegating broker checks), read without protobuf-es's
 * reader, its per-field dispatch and its UTF-8 decoder. The same message object protobuf-es's
 * `fromBinary` makes (authorize-request.test.ts compares them over generated and mutated inputs),
 * marked TEXT_CHECKED: every string is ASCII without NUL, so libs/rpc skips its text walk.
 *
 * Only the common shape is read here: each known field once, length-delimited, ASCII. Anything
 * else — a non-ASCII or NUL byte in a string, an unknown field, a field given twice (protobuf's
 * last-one-wins and message merging), another wire type, a truncated message — answers
 * undefined, and protobuf-es decodes the bytes as before (with its errors and rules, and the text
 * check after it).
 */
export function decodeAuthorizeRequest(bytes: Buffer): AuthorizeRequest | undefined {
  if (!scanFields(bytes, 0, bytes.length, 6, requestFields)) return undefined;
  const action = textOf(bytes, requestFields, 2);
  const resource = textOf(bytes, requestFields, 3);
  const clientId = textOf(bytes, requestFields, 4);
  const peerIp = textOf(bytes, requestFields, 5);
  const accountId = textOf(bytes, requestFields, 6);
  if (action === undefined || resource === undefined || clientId === undefined || peerIp === undefined || accountId === undefined) return undefined;
  let credential: Credential | undefined;
  if (requestFields[2]! >= 0) {
    credential = decodeCredential(bytes, requestFields[2]!, requestFields[3]!);
    if (!credential) return undefined;
  }
  const message: AuthorizeRequest = { $typeName: 'tollgate.authz.v1.AuthorizeRequest', action, resource, clientId, peerIp, accountId, [TEXT_CHECKED]: true } as AuthorizeRequest;
  if (credential) message.credential = credential;
  return message;
}

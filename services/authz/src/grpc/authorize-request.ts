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

function decodeCredential(bytes: Buffer, start: number, end: number): Credential | undefined {
  let tokenId = '';
  let bearer = '';
  let username = '';
  let password = '';
  let seen = 0;
  let at = start;
  while (at < end) {
    const tag = bytes[at++]!;
    // Fields 1–4, length-delimited: tags 0x0a, 0x12, 0x1a, 0x22; each at most once.
    const field = tag >>> 3;
    if ((tag & 7) !== 2 || field < 1 || field > 4 || seen & (1 << field)) return undefined;
    seen |= 1 << field;
    const length = readLength(bytes, at, end);
    if (length < 0) return undefined;
    at = lengthEnd;
    if (length > end - at) return undefined;
    const text = asciiText(bytes, at, at + length);
    if (text === undefined) return undefined;
    at += length;
    if (field === 1) tokenId = text;
    else if (field === 2) bearer = text;
    else if (field === 3) username = text;
    else password = text;
  }
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
  let action = '';
  let resource = '';
  let clientId = '';
  let peerIp = '';
  let accountId = '';
  let credential: Credential | undefined;
  let seen = 0;
  let at = 0;
  const end = bytes.length;
  while (at < end) {
    const tag = bytes[at++]!;
    // Fields 1–6, length-delimited: one-byte tags 0x0a … 0x32; each at most once.
    const field = tag >>> 3;
    if ((tag & 7) !== 2 || field < 1 || field > 6 || seen & (1 << field)) return undefined;
    seen |= 1 << field;
    const length = readLength(bytes, at, end);
    if (length < 0) return undefined;
    at = lengthEnd;
    if (length > end - at) return undefined;
    if (field === 1) {
      credential = decodeCredential(bytes, at, at + length);
      if (!credential) return undefined;
    } else {
      const text = asciiText(bytes, at, at + length);
      if (text === undefined) return undefined;
      if (field === 2) action = text;
      else if (field === 3) resource = text;
      else if (field === 4) clientId = text;
      else if (field === 5) peerIp = text;
      else accountId = text;
    }
    at += length;
  }
  const message: AuthorizeRequest = { $typeName: 'tollgate.authz.v1.AuthorizeRequest', action, resource, clientId, peerIp, accountId, [TEXT_CHECKED]: true } as AuthorizeRequest;
  if (credential) message.credential = credential;
  return message;
}

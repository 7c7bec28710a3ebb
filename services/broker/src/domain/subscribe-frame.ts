/**
 * A SUBSCRIBE frame measured on its raw bytes, before mqtt-packet parses it. mqtt-packet turns
 * every filter into an object (and the SUBACK it would generate writes one code at a time): a
 * 1 MiB SUBSCRIBE of 100,000 filters held the event loop ~390 ms. Only the filters up to the cap
 * are ever handed to it; the rest are counted here — walked as 2-byte length-prefixed strings
 * plus an options byte [MQTT-3.8.3] — and answered "quota exceeded" without being parsed.
 * Pure: reads a Uint8Array, no I/O.
 */
import { scanPropertyList } from './frame-properties.ts';

export type SubscribeFrameScan =
  /** At most `maxFilters` filters: hand the frame to the parser as it is. */
  | { kind: 'within' }
  /**
   * More than `maxFilters`: `cutAt` is the offset just after the last filter kept, `excess` the
   * number of filters past the cap (each answered 0x97 / v3 0x80 without being parsed).
   */
  | { kind: 'over'; cutAt: number; excess: number }
  /** The filter list does not frame (truncated, an options byte with reserved bits): 0x81. */
  | { kind: 'malformed' };

/**
 * Walks the filter list of a complete SUBSCRIBE `frame` whose fixed header is `headerLen` bytes.
 * The packet identifier and (v5) the property list are skipped; malformed properties are left to
 * the parser, which refuses them as before. Each filter's options byte is checked for reserved
 * bits and QoS 3 [MQTT-3.8.3-4] (v5: bits 6–7 [MQTT-3.8.3-5]; v3.1.1: bits 2–7 [MQTT-3.8.3-4]), so what is not
 * parsed is still framed and checked; its topic is not validated (it is refused anyway).
 */
export function scanSubscribeFrame(frame: Uint8Array, headerLen: number, v5: boolean, maxFilters: number): SubscribeFrameScan {
  const end = frame.length;
  let p = headerLen + 2;
  if (p > end) return { kind: 'within' };
  if (v5) {
    const after = scanPropertyList(frame, p, end);
    // A broken property list: the parser refuses the packet with its own reason.
    if (after < 0) return { kind: 'within' };
    p = after;
  }
  const reserved = v5 ? 0xc0 : 0xfc;
  let count = 0;
  // A cap of 0 keeps no filter: the parser then sees none and the packet is a protocol error.
  let cutAt = p;
  while (p < end) {
    if (p + 2 > end) return { kind: 'malformed' };
    const len = (frame[p]! << 8) | frame[p + 1]!;
    p += 2 + len;
    if (p >= end) return { kind: 'malformed' };
    const options = frame[p++]!;
    if ((options & reserved) !== 0 || (options & 3) === 3) return { kind: 'malformed' };
    count++;
    if (count === maxFilters) cutAt = p;
  }
  if (count <= maxFilters) return { kind: 'within' };
  return { kind: 'over', cutAt, excess: count - maxFilters };
}

/**
 * The frame holding only the bytes before `cutAt` (fixed header, packet id, properties, the kept
 * filters), its Remaining Length re-encoded [MQTT-1.5.5].
 */
export function truncateSubscribeFrame(frame: Uint8Array, headerLen: number, cutAt: number): Uint8Array {
  const remaining = cutAt - headerLen;
  let lenBytes = 1;
  for (let v = remaining; v >= 128; v = Math.floor(v / 128)) lenBytes++;
  const out = new Uint8Array(1 + lenBytes + remaining);
  out[0] = frame[0]!;
  let v = remaining;
  for (let i = 1; i <= lenBytes; i++) {
    const digit = v % 128;
    v = Math.floor(v / 128);
    out[i] = i < lenBytes ? digit | 0x80 : digit;
  }
  out.set(frame.subarray(headerLen, cutAt), 1 + lenBytes);
  return out;
}

/**
 * MQTT topics and filters ⇄ NATS subjects (and JetStream KV keys). Pure: no I/O.
 *
 * A topic `a/b` of account `acc_1` travels on `<cluster>.msg.acc_1.a.b`. Every MQTT level must
 * become one valid, non-empty NATS token that is neither `*` nor `>`, and the mapping must be
 * reversible for every topic MQTT allows (`.`, spaces, `*`, `>`, `$`, empty levels, non-ASCII):
 * bytes outside `[A-Za-z0-9_-]` are written `=HH` (the UTF-8 byte in upper-case hex) and the
 * empty level is the lone token `=`. `=` is legal in NATS subjects and in KV keys (`[-/=.\w]`),
 * so one escaping serves both; an escaped token is never `*` or `>`, so wildcards stay wildcards.
 */

const SAFE = /^[A-Za-z0-9_-]+$/;
const HEX = '0123456789ABCDEF';

/** One MQTT topic level → one NATS token. */
export function encodeLevel(level: string): string {
  if (level.length === 0) return '=';
  if (SAFE.test(level)) return level;
  let out = '';
  for (const byte of Buffer.from(level, 'utf8')) {
    const safe = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || byte === 0x5f || byte === 0x2d;
    out += safe ? String.fromCharCode(byte) : `=${HEX[byte >> 4]}${HEX[byte & 15]}`;
  }
  return out;
}

/** Inverse of `encodeLevel`; undefined when `token` is not one it produces. */
export function decodeLevel(token: string): string | undefined {
  if (token === '=') return '';
  if (SAFE.test(token)) return token;
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (c === 0x3d) {
      const hex = token.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else if (SAFE.test(token[i]!)) bytes.push(c);
    else return undefined;
  }
  const buf = Buffer.from(bytes);
  const text = buf.toString('utf8');
  // Canonical form only: re-encoding must give the same token (no ill-formed UTF-8, no `=41` for `A`).
  return encodeLevel(text) === token ? text : undefined;
}

/** `a/b` → `a.b` (a topic name: no wildcards). */
export function topicToTokens(topic: string): string {
  return topic.split('/').map(encodeLevel).join('.');
}

export function tokensToTopic(tokens: string): string | undefined {
  const levels: string[] = [];
  for (const token of tokens.split('.')) {
    const level = decodeLevel(token);
    if (level === undefined) return undefined;
    levels.push(level);
  }
  return levels.join('/');
}

/**
 * The NATS subjects (relative to `<cluster>.msg.<account>.`) that together carry every topic an MQTT
 * filter matches: `+` → `*`, `#` → `>`. `a/#` also matches `a` itself [MQTT-4.7.1-2], which NATS
 * `a.>` does not, so that filter needs the parent subject too. `#` alone is `>` (every topic has at
 * least one level). The `$` rule [MQTT-4.7.2-1] is left to the receiving edge's own trie match.
 */
export function filterToTokenPatterns(filter: string): string[] {
  const levels = filter.split('/');
  const tokens = levels.map((l) => (l === '+' ? '*' : l === '#' ? '>' : encodeLevel(l)));
  const pattern = tokens.join('.');
  if (levels.length > 1 && levels[levels.length - 1] === '#') return [pattern, tokens.slice(0, -1).join('.')];
  return [pattern];
}

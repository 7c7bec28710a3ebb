/**
 * Token IP allow-lists: IPv4 and IPv6 addresses and CIDR blocks, and flespi masks on IPv4
 * (`10.100.15.*`, `192.168.56.1?`). Pure TypeScript parsing (no node:net), compiled once.
 *
 * Masks work per octet of the dotted-decimal form: `*` is any run of digits (so `*` alone is any
 * octet), `?` exactly one digit; `192.168.56.1?` allows 192.168.56.10–19. An IPv4-mapped IPv6
 * address (`::ffff:10.1.2.3`) is checked as its IPv4 address too. An EMPTY list allows every
 * address (no restriction configured), as in flespi.
 */
import { invalidArgument } from '#libs/errors/index.ts';

type Entry =
  | { kind: 'v4'; base: number; mask: number }
  | { kind: 'v6'; groups: readonly number[]; prefix: number }
  | { kind: 'mask'; octets: readonly Uint8Array[] };

export interface IpAllowList {
  readonly entries: readonly Entry[];
  readonly source: readonly string[];
}

export const MAX_IP_ALLOW_LIST_ENTRIES = 256;

/** Strict dotted-decimal IPv4 → unsigned 32-bit number, or null. */
export function parseIpv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return null;
    const n = Number(part);
    if (n > 255) return null;
    value = value * 256 + n;
  }
  return value >>> 0;
}

/** IPv6 (with `::` and an optional trailing dotted IPv4) → 8 groups, or null. Zones (`%eth0`) are refused. */
export function parseIpv6(text: string): number[] | null {
  if (text.length === 0 || text.length > 45 || !/^[0-9a-fA-F:.]+$/.test(text)) return null;
  let tail: number[] = [];
  let body = text;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) > lastColon) {
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (v4 === null) return null;
    tail = [v4 >>> 16, v4 & 0xffff];
    // '…::a.b.c.d' keeps its '::'; '…:x:a.b.c.d' drops the ':' before the IPv4 part.
    body = text[lastColon - 1] === ':' ? text.slice(0, lastColon + 1) : text.slice(0, lastColon);
  }
  const parseGroups = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const wanted = 8 - tail.length;
  const double = body.indexOf('::');
  let groups: number[];
  if (double >= 0) {
    if (body.indexOf('::', double + 1) >= 0) return null;
    const head = parseGroups(body.slice(0, double));
    const rest = parseGroups(body.slice(double + 2));
    if (head === null || rest === null || head.length + rest.length >= wanted) return null;
    groups = [...head, ...new Array<number>(wanted - head.length - rest.length).fill(0), ...rest];
  } else {
    const all = parseGroups(body);
    if (all === null || all.length !== wanted) return null;
    groups = all;
  }
  return [...groups, ...tail];
}

function mappedIpv4(groups: readonly number[]): number | null {
  for (let i = 0; i < 5; i++) if (groups[i] !== 0) return null;
  if (groups[5] !== 0xffff) return null;
  return ((groups[6]! << 16) | groups[7]!) >>> 0;
}

function compileOctetPattern(pattern: string): Uint8Array | null {
  if (!/^[0-9*?]{1,3}$/.test(pattern) && pattern !== '*') return null;
  const re = new RegExp(`^${pattern.replaceAll('*', '[0-9]*').replaceAll('?', '[0-9]')}$`);
  const allowed = new Uint8Array(256);
  let any = false;
  for (let n = 0; n < 256; n++) if (re.test(String(n))) allowed[n] = 1, (any = true);
  return any ? allowed : null;
}

function compileEntry(text: string): Entry | string {
  const trimmed = text.trim();
  if (trimmed.length === 0) return 'must not be empty';
  if (trimmed.includes('*') || trimmed.includes('?')) {
    const parts = trimmed.split('.');
    if (parts.length !== 4) return 'a mask must have four octets, e.g. 10.100.15.*';
    const octets: Uint8Array[] = [];
    for (const part of parts) {
      const set = compileOctetPattern(part);
      if (set === null) return `bad mask octet ${JSON.stringify(part)} (digits, '*' any digits, '?' one digit; value 0–255)`;
      octets.push(set);
    }
    return { kind: 'mask', octets };
  }
  const slash = trimmed.indexOf('/');
  const address = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const prefixText = slash < 0 ? null : trimmed.slice(slash + 1);
  if (prefixText !== null && !/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return 'bad CIDR prefix length';
  const v4 = parseIpv4(address);
  if (v4 !== null) {
    const prefix = prefixText === null ? 32 : Number(prefixText);
    if (prefix > 32) return 'IPv4 prefix length must be 0–32';
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    if ((v4 & mask) >>> 0 !== v4) return `host bits set: did you mean ${[24, 16, 8, 0].map((s) => ((v4 & mask) >>> s) & 255).join('.')}/${prefix}?`;
    return { kind: 'v4', base: v4, mask };
  }
  const v6 = parseIpv6(address);
  if (v6 !== null) {
    const prefix = prefixText === null ? 128 : Number(prefixText);
    if (prefix > 128) return 'IPv6 prefix length must be 0–128';
    for (let i = 0; i < 8; i++) {
      const kept = Math.max(0, Math.min(16, prefix - i * 16));
      const hostMask = kept === 16 ? 0 : 0xffff >>> kept;
      if ((v6[i]! & hostMask) !== 0) return 'host bits set in IPv6 CIDR';
    }
    return { kind: 'v6', groups: v6, prefix };
  }
  return 'not an IPv4/IPv6 address, CIDR block or mask';
}

function v6Matches(base: readonly number[], prefix: number, ip: readonly number[]): boolean {
  let bits = prefix;
  for (let i = 0; i < 8 && bits > 0; i++, bits -= 16) {
    const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
    if ((base[i]! & mask) !== (ip[i]! & mask)) return false;
  }
  return true;
}

/** Validates and compiles; `INVALID_ARGUMENT` names the entry, e.g. `ip_allow_list[2]`. */
export function compileIpAllowList(entries: unknown, field = 'ip_allow_list'): IpAllowList {
  if (!Array.isArray(entries)) throw invalidArgument(field, 'must be an array of addresses, CIDR blocks or masks');
  if (entries.length > MAX_IP_ALLOW_LIST_ENTRIES) throw invalidArgument(field, `at most ${MAX_IP_ALLOW_LIST_ENTRIES} entries`);
  const compiled: Entry[] = [];
  entries.forEach((entry: unknown, i) => {
    if (typeof entry !== 'string') throw invalidArgument(`${field}[${i}]`, 'must be a string');
    const result = compileEntry(entry);
    if (typeof result === 'string') throw invalidArgument(`${field}[${i}]`, result);
    compiled.push(result);
  });
  return Object.freeze({ entries: compiled, source: Object.freeze(entries.map((e: string) => e.trim())) });
}

/** Is `ip` (textual IPv4 or IPv6) on the list? An unparseable address is not. An empty list allows all. */
export function isIpAllowed(list: IpAllowList, ip: string): boolean {
  if (list.entries.length === 0) return true;
  let v4 = parseIpv4(ip);
  const v6 = v4 === null ? parseIpv6(ip) : null;
  if (v4 === null && v6 === null) return false;
  if (v6 !== null) v4 = mappedIpv4(v6);
  for (const e of list.entries) {
    if (e.kind === 'v4') {
      if (v4 !== null && (v4 & e.mask) >>> 0 === e.base) return true;
    } else if (e.kind === 'mask') {
      if (v4 !== null && e.octets[0]![v4 >>> 24] && e.octets[1]![(v4 >>> 16) & 255] && e.octets[2]![(v4 >>> 8) & 255] && e.octets[3]![v4 & 255]) return true;
    } else if (v6 !== null && v6Matches(e.groups, e.prefix, v6)) return true;
  }
  return false;
}

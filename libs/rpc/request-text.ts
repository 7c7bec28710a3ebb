import type { DescField, DescMessage } from '@bufbuild/protobuf';

/**
 * Text the mesh refuses in any string of any request: NUL (Postgres text cannot hold it, and C
 * consumers of a username or topic would truncate at it), unpaired UTF-16 surrogates (not Unicode
 * scalar values: they cannot be encoded as UTF-8 for storage or a reply) and the noncharacters
 * U+FFFE / U+FFFF (never valid in interchange; U+FFFE is a reversed byte-order mark).
 *
 * Checked once, where a request is decoded, for every service: a string holding one of these is
 * a malformed request like an undecodable one, so it is refused before any handler (or the
 * database) sees it, naming the field.
 */
/**
 * Set (true) on a request message by a method's own decoder (libs/rpc `add`'s `decoders`) that has
 * already checked every string of it against these rules while decoding — authz's AuthorizeRequest
 * decoder, which reads ASCII only: the server then skips the walk below. A symbol: nothing decoded
 * from the wire can carry it.
 */
export const TEXT_CHECKED: unique symbol = Symbol('tollgate.rpc.textChecked');

export function isWellFormedText(value: string): boolean {
  return value.indexOf('\u0000') === -1 && value.indexOf('\uFFFE') === -1 && value.indexOf('\uFFFF') === -1 && wellFormed(value);
}

/** `String.prototype.isWellFormed` (ES2024; Node ≥ 20): no unpaired surrogate. */
const wellFormed = (value: string): boolean => (value as unknown as { isWellFormed(): boolean }).isWellFormed();

/** What is wrong with a string, for the error message (never echoes the value). */
export function describeBadText(value: string): string {
  if (value.indexOf('\u0000') !== -1) return 'must not contain NUL (U+0000)';
  if (!wellFormed(value)) return 'must not contain an unpaired surrogate';
  return 'must not contain the noncharacters U+FFFE or U+FFFF';
}

export interface BadTextField {
  /** Proto field path, e.g. `username`, `rules[2].topic`, `labels["k"]`. */
  field: string;
  problem: string;
}

const MAX_DEPTH = 32;

/**
 * The first string field (in declaration order, depth first) of `message` that is not well-formed
 * text, or undefined. Walks nested messages, repeated fields, map keys and values and oneofs.
 */
export function findBadText(schema: DescMessage, message: unknown, prefix = '', depth = 0): BadTextField | undefined {
  if (depth > MAX_DEPTH || message === null || typeof message !== 'object') return undefined;
  const record = message as Record<string, unknown>;
  for (const member of schema.members) {
    if (member.kind === 'oneof') {
      const selected = record[member.localName] as { case?: string; value?: unknown } | undefined;
      if (!selected?.case) continue;
      const field = member.fields.find((f) => f.localName === selected.case);
      if (!field) continue;
      const bad = checkField(field, selected.value, prefix, depth);
      if (bad) return bad;
      continue;
    }
    const bad = checkField(member, record[member.localName], prefix, depth);
    if (bad) return bad;
  }
  return undefined;
}

function checkField(field: DescField, value: unknown, prefix: string, depth: number): BadTextField | undefined {
  // Every request passes here: a scalar's path is spelled out only when it is bad.
  if (field.fieldKind === 'scalar') return typeof value !== 'string' || isWellFormedText(value) ? undefined : { field: `${prefix}${field.name}`, problem: describeBadText(value) };
  const name = `${prefix}${field.name}`;
  switch (field.fieldKind) {
    case 'message':
      return value === undefined ? undefined : findBadText(field.message, value, `${name}.`, depth + 1);
    case 'list':
      if (!Array.isArray(value)) return undefined;
      for (let i = 0; i < value.length; i++) {
        const bad = field.listKind === 'message' ? findBadText(field.message, value[i], `${name}[${i}].`, depth + 1) : checkValue(value[i], `${name}[${i}]`);
        if (bad) return bad;
      }
      return undefined;
    case 'map': {
      if (value === null || typeof value !== 'object') return undefined;
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
        if (!isWellFormedText(key)) return { field: `${name}`, problem: `keys ${describeBadText(key)}` };
        const bad = field.mapKind === 'message' ? findBadText(field.message, item, `${name}[${JSON.stringify(key)}].`, depth + 1) : checkValue(item, `${name}[${JSON.stringify(key)}]`);
        if (bad) return bad;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

function checkValue(value: unknown, field: string): BadTextField | undefined {
  if (typeof value !== 'string' || isWellFormedText(value)) return undefined;
  return { field, problem: describeBadText(value) };
}

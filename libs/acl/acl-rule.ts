/**
 * ACL rules of `acl` tokens: the model and its validation on write.
 *
 * A rule is `{ effect, actions, resources }`. Resources:
 * - `mqtt:<topic filter>` — MQTT wildcards `+` (one level) and `#` (rest, incl. the parent level);
 *   actions `connect`, `publish`, `subscribe`. For `connect` the topic is not consulted: a rule
 *   listing `connect` with any `mqtt:` resource grants (or denies) the connection; write `mqtt:#`.
 * - `api:<path pattern>` — absolute path, `/`-separated segments; `*` matches exactly one segment,
 *   `**` (last segment only) matches zero or more segments (`/v1/**` matches `/v1`, `/v1/a/b`);
 *   actions `read`, `write`, `admin`.
 * - `dataset:<id>` or `dataset:*` (every dataset); actions `read`, `write`, `admin`.
 * An action/resource pair of different families (e.g. `publish` + `api:`) is ignored; a rule in
 * which no pair fits is rejected.
 *
 * Placeholders `${account}`, `${token}`, `${client_id}`, `${username}` may appear in `mqtt:` and
 * `api:` resources and must fill a whole level/segment; they are resolved per check (see acl-engine.ts).
 */
import { invalidArgument } from '#libs/errors/index.ts';
import { checkTopicFilter } from '#libs/topics/topic-filter.ts';

export const aclActions = ['connect', 'publish', 'subscribe', 'read', 'write', 'admin'] as const;
export type AclAction = (typeof aclActions)[number];
export type AclEffect = 'allow' | 'deny';

export interface AclRule {
  readonly effect: AclEffect;
  readonly actions: readonly AclAction[];
  readonly resources: readonly string[];
}

export const aclPlaceholders = ['account', 'token', 'client_id', 'username'] as const;
export type AclPlaceholder = (typeof aclPlaceholders)[number];
/** Values for placeholders, set by authz from the authenticated principal — never by the client's topic. */
export type AclVars = Readonly<Partial<Record<AclPlaceholder, string>>>;

export const MAX_ACL_RULES = 1_000;
export const MAX_API_PATTERN_LENGTH = 4_096;
export const MAX_DATASET_ID_LENGTH = 256;

export type ResourceKind = 'mqtt' | 'api' | 'dataset';
const mqttActions: ReadonlySet<string> = new Set(['connect', 'publish', 'subscribe']);

/** Which resource family an action applies to. */
export function resourceKindOf(action: AclAction): 'mqtt' | 'data' {
  return mqttActions.has(action) ? 'mqtt' : 'data';
}

export function fitsResource(action: AclAction, kind: ResourceKind): boolean {
  return resourceKindOf(action) === 'mqtt' ? kind === 'mqtt' : kind !== 'mqtt';
}

/** Splits `kind:rest`; null for an unknown kind. */
export function splitResource(resource: string): { kind: ResourceKind; value: string } | null {
  const colon = resource.indexOf(':');
  if (colon < 0) return null;
  const kind = resource.slice(0, colon);
  if (kind !== 'mqtt' && kind !== 'api' && kind !== 'dataset') return null;
  return { kind, value: resource.slice(colon + 1) };
}

/** `${name}` → name when it is a known placeholder, undefined when the level is not a placeholder, null when malformed. */
export function placeholderOf(level: string): AclPlaceholder | undefined | null {
  if (!level.includes('${')) return undefined;
  if (!level.startsWith('${') || !level.endsWith('}') || level.indexOf('${', 1) >= 0) return null;
  const name = level.slice(2, -1);
  return (aclPlaceholders as readonly string[]).includes(name) ? (name as AclPlaceholder) : null;
}

function checkPlaceholders(levels: readonly string[]): string | null {
  for (const level of levels) {
    if (!level.includes('${')) continue;
    const name = placeholderOf(level);
    if (name === null) {
      const inner = /^\$\{([^}]*)\}$/.exec(level);
      return inner ? `unknown placeholder \${${inner[1]}} (known: ${aclPlaceholders.map((p) => `\${${p}}`).join(', ')})` : 'a placeholder must fill a whole level';
    }
  }
  return null;
}

/** Problem with an `mqtt:` rule filter, or null. */
export function checkMqttRuleFilter(filter: string): string | null {
  const problem = checkTopicFilter(filter);
  if (problem !== null) return problem;
  if (filter.startsWith('$share/')) return 'rules name topics, not shared subscriptions ($share/)';
  return checkPlaceholders(filter.split('/'));
}

/** Problem with an `api:` path pattern, or null. */
export function checkApiPattern(pattern: string): string | null {
  if (!pattern.startsWith('/')) return "path pattern must start with '/'";
  if (pattern.length > MAX_API_PATTERN_LENGTH) return `path pattern must be at most ${MAX_API_PATTERN_LENGTH} characters`;
  if (pattern.includes('\u0000')) return 'must not contain U+0000';
  const segments = pattern.split('/');
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (s === '**' && i !== segments.length - 1) return "'**' must be the last segment";
    if (s !== '*' && s !== '**' && s.includes('*')) return "'*' and '**' must fill a whole segment";
  }
  return checkPlaceholders(segments);
}

/** Problem with a `dataset:` id, or null. */
export function checkDatasetId(id: string): string | null {
  if (id.length === 0) return 'dataset id must not be empty';
  if (id.length > MAX_DATASET_ID_LENGTH) return `dataset id must be at most ${MAX_DATASET_ID_LENGTH} characters`;
  if (id !== '*' && id.includes('*')) return "'*' must be the whole dataset id";
  if (id.includes('${')) return 'placeholders are not supported in dataset ids';
  return null;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const ruleKeys = new Set(['effect', 'actions', 'resources']);

/**
 * Validates untrusted rules (e.g. parsed JSON) and returns them typed. Throws
 * `INVALID_ARGUMENT` naming the first faulty field, e.g. `rules[3].resources[0]`.
 */
export function validateRules(rules: unknown, field = 'rules'): readonly AclRule[] {
  if (!Array.isArray(rules)) throw invalidArgument(field, 'must be an array of rules');
  if (rules.length > MAX_ACL_RULES) throw invalidArgument(field, `at most ${MAX_ACL_RULES} rules (got ${rules.length})`);
  rules.forEach((rule: unknown, i) => validateRule(rule, `${field}[${i}]`));
  return rules as readonly AclRule[];
}

function validateRule(rule: unknown, at: string): void {
  if (!isPlainObject(rule)) throw invalidArgument(at, 'must be an object { effect, actions, resources }');
  for (const key of Object.keys(rule)) if (!ruleKeys.has(key)) throw invalidArgument(`${at}.${key}`, 'unknown field');
  if (rule.effect !== 'allow' && rule.effect !== 'deny') throw invalidArgument(`${at}.effect`, "must be 'allow' or 'deny'");

  const actions = rule.actions;
  if (!Array.isArray(actions) || actions.length === 0) throw invalidArgument(`${at}.actions`, 'must be a non-empty array');
  actions.forEach((action: unknown, j) => {
    if (typeof action !== 'string' || !(aclActions as readonly string[]).includes(action)) {
      throw invalidArgument(`${at}.actions[${j}]`, `unknown action ${JSON.stringify(action)} (known: ${aclActions.join(', ')})`);
    }
  });

  const resources = rule.resources;
  if (!Array.isArray(resources) || resources.length === 0) throw invalidArgument(`${at}.resources`, 'must be a non-empty array');
  let fits = false;
  resources.forEach((resource: unknown, j) => {
    const where = `${at}.resources[${j}]`;
    if (typeof resource !== 'string') throw invalidArgument(where, 'must be a string');
    const split = splitResource(resource);
    if (split === null) throw invalidArgument(where, "must start with 'mqtt:', 'api:' or 'dataset:'");
    const problem =
      split.kind === 'mqtt' ? checkMqttRuleFilter(split.value) : split.kind === 'api' ? checkApiPattern(split.value) : checkDatasetId(split.value);
    if (problem !== null) throw invalidArgument(where, problem);
    if ((actions as AclAction[]).some((a) => fitsResource(a, split.kind))) fits = true;
  });
  if (!fits) throw invalidArgument(`${at}.resources`, 'no resource fits any listed action (mqtt: for connect/publish/subscribe; api:/dataset: for read/write/admin)');
}

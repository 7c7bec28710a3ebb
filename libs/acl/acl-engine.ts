/**
 * The ACL engine: compile a token's rules once (`compileRules`), then answer checks
 * (`checkAccess`) without scanning the rule list. Pure: no I/O, no clock, no node:*.
 *
 * Semantics: default deny; an explicit deny beats any allow; rule order does not matter.
 * - publish: the resource is a topic name; allowed iff some allow rule matches it and no deny rule does.
 * - subscribe: the resource is a topic filter (a `$share/{group}/` prefix is checked by its inner
 *   filter); allowed iff EVERY topic the filter can match is matched by an allow rule (possibly
 *   several together) AND no topic it can match is matched by a deny rule. So rule
 *   `devices/${client_id}/#` lets client c1 subscribe `devices/c1/+/temp` but not `devices/+/temp`,
 *   and a subscribe overlapping a deny rule (`#` vs deny `secret/x`) is denied.
 * - connect: the resource is not consulted; allowed unless a rule denies `connect` (`mayConnect`):
 *   a token made for publishing and subscribing needs no connect rule to be usable.
 * - read / write / admin: `api:<path>` (concrete path) and `dataset:<id>`.
 * [MQTT-4.7.2-1] a rule starting with `+` or `#` never matches a topic starting with `$`.
 *
 * Placeholders: `${account}`, `${token}`, `${client_id}`, `${username}` in a rule fill one whole
 * level and compare equal to `vars[name]`. A value that is empty or contains `+`, `#` or `/`
 * never matches — so a client id cannot inject a wildcard or climb levels. `vars` comes from the
 * authenticated principal (authz sets it), never from the client's topic.
 *
 * Tenancy: topics here are CLIENT-VISIBLE topics inside the principal's account. The engine has no
 * notion of other accounts; the broker keeps each account's topics in its own namespace (see
 * tenant-topic.ts), so whatever a rule says, it can only ever address its own account's topics.
 */
import { invalidArgument } from '#libs/errors/index.ts';
import { checkTopicFilter, checkTopicName } from '#libs/topics/topic-filter.ts';
import {
  type AclAction,
  type AclRule,
  type AclVars,
  aclActions,
  fitsResource,
  placeholderOf,
  splitResource,
  validateRules,
} from './acl-rule.ts';
import {
  coversFilter,
  createLevelTrie,
  insertPattern,
  type LevelTrie,
  matchConcrete,
  overlapsDeny,
  splitTopicLevels,
  type PatternLevel,
} from './level-trie.ts';

export type AccessReason = 'ALLOWED' | 'NO_MATCHING_RULE' | 'DENIED_BY_RULE';

export interface AccessDecision {
  readonly allowed: boolean;
  readonly reason: AccessReason;
  /** ALLOWED: an allow rule that grants it (the lowest-indexed one for concrete resources); DENIED_BY_RULE: the lowest-indexed deny rule that applies. */
  readonly ruleIndex?: number;
}

export interface AccessRequest {
  readonly action: AclAction;
  /** `mqtt:<topic or filter>`, `api:<path>`, `dataset:<id>`. Ignored for `connect`. */
  readonly resource: string;
  readonly vars?: AclVars;
  /**
   * `subscribe` only: `filter` grants a filter that overlaps a deny rule (checkSubscribeFiltered) —
   * for a caller that checks every delivery afterwards (the broker edge, mosquitto-go-auth);
   * unset or `refuse`: such a filter is denied whole.
   */
  readonly subscribeOverlap?: 'filter' | 'refuse';
}

type DataAction = 'read' | 'write' | 'admin';

interface DatasetIndex {
  readonly ids: Map<string, { allow: number; deny: number }>;
  star: { allow: number; deny: number };
}

export interface CompiledAcl {
  readonly ruleCount: number;
  readonly publish: LevelTrie;
  readonly subscribe: LevelTrie;
  readonly connect: { allow: number; deny: number };
  readonly api: Readonly<Record<DataAction, LevelTrie>>;
  readonly dataset: Readonly<Record<DataAction, DatasetIndex>>;
  /** Frozen decisions by rule index, built lazily: a check allocates no result object. */
  readonly allowedByRule: AccessDecision[];
  readonly deniedByRule: AccessDecision[];
  /** Topic levels of the check in progress (see publishAt). */
  readonly levelScratch: string[];
}

const NO_MATCHING_RULE: AccessDecision = Object.freeze({ allowed: false, reason: 'NO_MATCHING_RULE' });
const EMPTY_VARS: AclVars = Object.freeze({});
const lower = (current: number, index: number) => (current < 0 || index < current ? index : current);
const minIndex = (a: number, b: number) => (a < 0 ? b : b < 0 ? a : Math.min(a, b));

function patternOf(levels: readonly string[], plus: string, hash: string): { levels: PatternLevel[]; hash: boolean } {
  const hasHash = levels.length > 0 && levels[levels.length - 1] === hash;
  const body = hasHash ? levels.slice(0, -1) : levels;
  return {
    hash: hasHash,
    levels: body.map((level): PatternLevel => {
      if (level === plus) return { kind: 'plus' };
      const name = placeholderOf(level);
      return name ? { kind: 'placeholder', name } : { kind: 'literal', value: level };
    }),
  };
}

/** Validates (INVALID_ARGUMENT naming `rules[i]…`) and compiles a rule set. */
export function compileRules(rules: unknown): CompiledAcl {
  const valid: readonly AclRule[] = validateRules(rules);
  const dataTries = () => ({ read: createLevelTrie(false), write: createLevelTrie(false), admin: createLevelTrie(false) });
  const dataIndex = (): DatasetIndex => ({ ids: new Map(), star: { allow: -1, deny: -1 } });
  const acl: CompiledAcl = {
    ruleCount: valid.length,
    publish: createLevelTrie(true),
    subscribe: createLevelTrie(true),
    connect: { allow: -1, deny: -1 },
    api: dataTries(),
    dataset: { read: dataIndex(), write: dataIndex(), admin: dataIndex() },
    allowedByRule: [],
    deniedByRule: [],
    levelScratch: [],
  };
  valid.forEach((rule, index) => {
    const deny = rule.effect === 'deny';
    for (const action of new Set(rule.actions)) {
      for (const resource of rule.resources) {
        const { kind, value } = splitResource(resource)!;
        if (!fitsResource(action, kind)) continue;
        if (action === 'connect') {
          if (deny) acl.connect.deny = lower(acl.connect.deny, index);
          else acl.connect.allow = lower(acl.connect.allow, index);
        } else if (action === 'publish' || action === 'subscribe') {
          const p = patternOf(value.split('/'), '+', '#');
          insertPattern(acl[action], p.levels, p.hash, deny, index);
        } else if (kind === 'api') {
          const p = patternOf(value.split('/'), '*', '**');
          insertPattern(acl.api[action as DataAction], p.levels, p.hash, deny, index);
        } else {
          const idx = acl.dataset[action as DataAction];
          let slot = value === '*' ? idx.star : idx.ids.get(value);
          if (slot === undefined) idx.ids.set(value, (slot = { allow: -1, deny: -1 }));
          if (deny) slot.deny = lower(slot.deny, index);
          else slot.allow = lower(slot.allow, index);
        }
      }
    }
  });
  return acl;
}

function decide(acl: CompiledAcl, allow: number, deny: number): AccessDecision {
  if (deny >= 0) return (acl.deniedByRule[deny] ??= Object.freeze({ allowed: false, reason: 'DENIED_BY_RULE', ruleIndex: deny }));
  if (allow >= 0) return (acl.allowedByRule[allow] ??= Object.freeze({ allowed: true, reason: 'ALLOWED', ruleIndex: allow }));
  return NO_MATCHING_RULE;
}

function mqttValue(resource: string, action: string): string {
  if (!resource.startsWith('mqtt:')) throw invalidArgument('resource', `${action} needs an mqtt: resource`);
  return resource.slice(5);
}

/** May the holder of these rules do `action` on `resource`? "No" is a decision, not a throw; malformed input throws INVALID_ARGUMENT. */
export function checkAccess(acl: CompiledAcl, request: AccessRequest): AccessDecision {
  const { action, resource } = request;
  const vars = request.vars ?? EMPTY_VARS;
  switch (action) {
    case 'publish':
      if (!resource.startsWith('mqtt:')) throw invalidArgument('resource', `${action} needs an mqtt: resource`);
      return publishAt(acl, resource, 5, vars);
    case 'subscribe':
      return request.subscribeOverlap === 'filter' ? checkSubscribeFiltered(acl, mqttValue(resource, action), vars) : checkSubscribe(acl, mqttValue(resource, action), vars);
    case 'connect':
      if (!mayConnect(acl)) return decide(acl, -1, acl.connect.deny);
      return acl.connect.allow >= 0 ? decide(acl, acl.connect.allow, -1) : CONNECT_BY_DEFAULT;
    case 'read':
    case 'write':
    case 'admin': {
      const split = splitResource(resource);
      if (split === null || split.kind === 'mqtt') throw invalidArgument('resource', `${action} needs an api: or dataset: resource`);
      if (split.kind === 'api') {
        if (!split.value.startsWith('/')) throw invalidArgument('resource', "api path must start with '/'");
        const trie = acl.api[action];
        if (trie.ruleCount === 0) return NO_MATCHING_RULE;
        const levels = split.value.split('/');
        matchConcrete(trie, levels, levels.length, vars);
        return decide(acl, trie.foundAllow, trie.foundDeny);
      }
      if (split.value.length === 0) throw invalidArgument('resource', 'dataset id must not be empty');
      const idx = acl.dataset[action];
      const slot = idx.ids.get(split.value);
      const allow = minIndex(slot?.allow ?? -1, idx.star.allow);
      const deny = minIndex(slot?.deny ?? -1, idx.star.deny);
      return decide(acl, allow, deny);
    }
    default:
      throw invalidArgument('action', `unknown action ${JSON.stringify(action)} (known: ${aclActions.join(', ')})`);
  }
}

const CONNECT_BY_DEFAULT: AccessDecision = Object.freeze({ allowed: true, reason: 'ALLOWED' });

/**
 * May the holder of these rules connect at all? The one answer to that question (authz's
 * Authenticate asks it, so the edge and every adapter inherit it): yes unless a rule denies
 * `connect`. An allow rule for `connect` changes nothing but documents intent.
 */
export function mayConnect(acl: CompiledAcl): boolean {
  return acl.connect.deny < 0;
}

/** Publish of a topic name: the broker's hot path. */
export function checkPublish(acl: CompiledAcl, topic: string, vars: AclVars = EMPTY_VARS): AccessDecision {
  return publishAt(acl, topic, 0, vars);
}

/**
 * Publish check on `text` from `start` (`mqtt:` resources are read in place, not sliced).
 * Trade-off: one scan validates and splits into the compiled ACL's reused level array, and the
 * walk allocates nothing; this makes a check non-reentrant, which synchronous code never is.
 */
function publishAt(acl: CompiledAcl, text: string, start: number, vars: AclVars): AccessDecision {
  const levels = acl.levelScratch;
  const count = splitTopicLevels(text, start, levels);
  if (count < 0) {
    const problem = checkTopicName(text.slice(start));
    if (problem !== null) throw invalidArgument('resource', `topic ${problem}`);
    const all = text.slice(start).split('/'); // long but valid: the slow path
    return publishLevels(acl, all, all.length, vars);
  }
  return publishLevels(acl, levels, count, vars);
}

function publishLevels(acl: CompiledAcl, levels: string[], count: number, vars: AclVars): AccessDecision {
  const trie = acl.publish;
  if (trie.ruleCount === 0) return NO_MATCHING_RULE;
  matchConcrete(trie, levels, count, vars);
  return decide(acl, trie.foundAllow, trie.foundDeny);
}

/** Subscribe to a topic filter: allowed only if every topic it can match is allowed and none denied. */
export function checkSubscribe(acl: CompiledAcl, filter: string, vars: AclVars = EMPTY_VARS): AccessDecision {
  const problem = checkTopicFilter(filter);
  if (problem !== null) throw invalidArgument('resource', `topic filter ${problem}`);
  // A shared subscription receives a subset of the inner filter's messages: authorize the inner filter.
  if (filter.startsWith('$share/')) filter = filter.slice(filter.indexOf('/', 7) + 1);
  const trie = acl.subscribe;
  if (trie.ruleCount === 0) return NO_MATCHING_RULE;
  const levels = filter.split('/');
  const deny = overlapsDeny(trie, levels, vars);
  if (deny >= 0) return decide(acl, -1, deny);
  return decide(acl, coversFilter(trie, levels, vars), -1);
}

/** A subscribe decision that may grant a filter overlapping a deny rule, filtered per delivery. */
export interface FilteredSubscribeDecision extends AccessDecision {
  /** Granted, but some topics of the filter are denied: check each delivery with `mayReceive`. */
  readonly filtered: boolean;
}

const UNFILTERED = new WeakMap<AccessDecision, FilteredSubscribeDecision>();
const unfiltered = (d: AccessDecision): FilteredSubscribeDecision => {
  let f = UNFILTERED.get(d);
  if (f === undefined) UNFILTERED.set(d, (f = Object.freeze({ ...d, filtered: false })));
  return f;
};

/**
 * Subscribe for a broker that checks every delivery (its own edge; mosquitto go-auth): like
 * `checkSubscribe`, except that a filter whose every topic is allowed by the allow rules but
 * which overlaps a deny rule — `#` under allow `#`, deny `secret/#` — is granted `filtered`
 * instead of refused, so a client may read everything but one subtree. Each message delivered
 * through such a subscription must pass `mayReceive`. A filter every topic of which is denied
 * (`secret/#` there) is still refused: nothing could ever be delivered through it.
 */
export function checkSubscribeFiltered(acl: CompiledAcl, filter: string, vars: AclVars = EMPTY_VARS): FilteredSubscribeDecision {
  const plain = checkSubscribe(acl, filter, vars);
  if (plain.reason !== 'DENIED_BY_RULE') return unfiltered(plain);
  if (filter.startsWith('$share/')) filter = filter.slice(filter.indexOf('/', 7) + 1);
  const trie = acl.subscribe;
  const levels = filter.split('/');
  const allow = coversFilter(trie, levels, vars);
  if (allow < 0 || coversFilter(trie, levels, vars, true) >= 0) return unfiltered(plain);
  return Object.freeze({ allowed: true, reason: 'ALLOWED', ruleIndex: allow, filtered: true });
}

/**
 * May a message on `topic` be delivered through a subscription granted `filtered`? No subscribe
 * deny rule matches the topic. (The allow side was settled at SUBSCRIBE: the filter is covered.)
 */
export function mayReceive(acl: CompiledAcl, topic: string, vars: AclVars = EMPTY_VARS): boolean {
  const trie = acl.subscribe;
  if (!trie.root.hasDenyBelow) return true;
  const scratch = acl.levelScratch;
  const count = splitTopicLevels(topic, 0, scratch);
  const levels = count < 0 ? topic.split('/') : scratch;
  matchConcrete(trie, levels, count < 0 ? levels.length : count, vars);
  return trie.foundDeny < 0;
}

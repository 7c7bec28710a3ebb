/**
 * The compiled form of the rules of one action on one resource family: a trie over topic levels
 * (MQTT) or path segments (API). Edges: literal (Map lookup), `+`/`*` (one level), placeholder
 * (compared with the principal's value at check time); `#`/`**` is a mark on the node where it
 * starts. Each node keeps the lowest rule index that allows / denies ending there, so a check
 * walks only the branches its topic can take — never the rule list.
 *
 * Three questions:
 * - `matchConcrete`: which rules match a concrete topic (publish, API path). Depth-first, no
 *   allocation besides the caller's level array.
 * - `coversFilter`: does the union of allow rules contain EVERY topic a subscribe filter can match?
 *   A `+` (or `#`) in the filter stands for any value, so it can only be covered through wildcard
 *   edges: a value equal to no literal in the trie ("fresh") takes the fewest edges, and acceptance
 *   only grows with the set of reachable nodes, so covering the fresh value covers them all. The
 *   walk is a subset simulation following `+` edges only for `+`/`#` filter levels.
 * - `overlapsDeny`: can ANY topic of the filter hit a deny rule? Same walk, but a `+` in the filter
 *   follows every edge, and a `#` asks whether any deny rule is reachable below.
 * [MQTT-4.7.2-1] (wildcards at the first level never match a `$` topic) applies when `dollarRule`.
 */
import type { AclPlaceholder, AclVars } from './acl-rule.ts';

export interface TrieNode {
  literals: Map<string, TrieNode> | null;
  plus: TrieNode | null;
  placeholders: { name: AclPlaceholder; node: TrieNode }[] | null;
  /** Lowest index of a rule ending exactly here, -1 if none. */
  allowEnd: number;
  denyEnd: number;
  /** Lowest index of a rule ending with `#` right after this node, -1 if none. */
  allowHash: number;
  denyHash: number;
  /** A deny rule ends at or below this node (placeholder values not considered). */
  hasDenyBelow: boolean;
  /** The literal children with `hasDenyBelow`, so a filter `+` never scans all literal children. */
  denyLiterals: [string, TrieNode][] | null;
}

export interface LevelTrie {
  readonly root: TrieNode;
  readonly dollarRule: boolean;
  ruleCount: number;
  /** Scratch for the synchronous walks (one per trie, so no allocation per check). */
  foundAllow: number;
  foundDeny: number;
}

/** One level of a rule pattern after parsing. */
export type PatternLevel = { kind: 'literal'; value: string } | { kind: 'plus' } | { kind: 'placeholder'; name: AclPlaceholder };

function createNode(): TrieNode {
  return { literals: null, plus: null, placeholders: null, allowEnd: -1, denyEnd: -1, allowHash: -1, denyHash: -1, hasDenyBelow: false, denyLiterals: null };
}

export function createLevelTrie(dollarRule: boolean): LevelTrie {
  return { root: createNode(), dollarRule, ruleCount: 0, foundAllow: -1, foundDeny: -1 };
}

const lower = (current: number, index: number) => (current < 0 || index < current ? index : current);

/** Adds one rule pattern; `hash` = the pattern ends with `#` / `**` after `levels`. */
export function insertPattern(trie: LevelTrie, levels: readonly PatternLevel[], hash: boolean, deny: boolean, ruleIndex: number): void {
  let node = trie.root;
  const path: TrieNode[] = [node];
  for (const level of levels) {
    let next: TrieNode | undefined;
    if (level.kind === 'literal') {
      node.literals ??= new Map();
      next = node.literals.get(level.value);
      if (next === undefined) node.literals.set(level.value, (next = createNode()));
    } else if (level.kind === 'plus') {
      next = node.plus ??= createNode();
    } else {
      node.placeholders ??= [];
      next = node.placeholders.find((e) => e.name === level.name)?.node;
      if (next === undefined) node.placeholders.push({ name: level.name, node: (next = createNode()) });
    }
    node = next;
    path.push(node);
  }
  if (hash) {
    if (deny) node.denyHash = lower(node.denyHash, ruleIndex);
    else node.allowHash = lower(node.allowHash, ruleIndex);
  } else if (deny) node.denyEnd = lower(node.denyEnd, ruleIndex);
  else node.allowEnd = lower(node.allowEnd, ruleIndex);
  if (deny) {
    levels.forEach((level, i) => {
      const parent = path[i]!;
      const child = path[i + 1]!;
      if (level.kind === 'literal' && !child.hasDenyBelow) (parent.denyLiterals ??= []).push([level.value, child]);
    });
    for (const n of path) n.hasDenyBelow = true;
  }
  trie.ruleCount++;
}

const DOLLAR = 0x24;

/**
 * A placeholder value may stand for one level only: not empty, no wildcard, no separator.
 * (`*` is allowed: it is a wildcard only in api: rule patterns, never in a checked path.)
 */
export function isUsableValue(value: string | undefined): value is string {
  if (value === undefined || value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x2b || c === 0x23 || c === 0x2f || c === 0) return false; // + # / NUL
  }
  return true;
}

// ---------------------------------------------------------------- concrete topics (publish, API)

/**
 * Splits `text` from `start` on `/` into `out` (reused by the caller: no array allocated per
 * check) and returns the number of levels, or -1 when the text is not a plain topic name: a
 * wildcard, U+0000 or a surrogate (left to the full validator), or long enough that its UTF-8
 * size must be counted. Folding validation into the one scan is the hot path's main saving.
 */
export function splitTopicLevels(text: string, start: number, out: string[]): number {
  const end = text.length;
  if (end === start || (end - start) * 3 > 65_535) return -1;
  let count = 0;
  let levelStart = start;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2f) {
      out[count++] = text.substring(levelStart, i);
      levelStart = i + 1;
    } else if (c === 0x2b || c === 0x23 || c === 0 || (c >= 0xd800 && c <= 0xdfff)) return -1;
  }
  out[count++] = text.substring(levelStart, end);
  return count;
}

/**
 * Rules matching a concrete topic: sets `trie.foundAllow` / `trie.foundDeny` to the lowest
 * matching rule index (-1 if none). `levels[0..count)` is the topic split on `/`, done once by the caller.
 */
export function matchConcrete(trie: LevelTrie, levels: readonly string[], count: number, vars: AclVars): void {
  trie.foundAllow = -1;
  trie.foundDeny = -1;
  const dollarTopic = trie.dollarRule && levels[0]!.charCodeAt(0) === DOLLAR;
  walk(trie, trie.root, levels, count, 0, vars, dollarTopic);
}

function walk(trie: LevelTrie, node: TrieNode, levels: readonly string[], count: number, i: number, vars: AclVars, dollarTopic: boolean): void {
  // A `#` mark matches the rest, including nothing (the parent level); at the root only non-$ topics.
  if ((node.allowHash >= 0 || node.denyHash >= 0) && !(i === 0 && dollarTopic)) {
    if (node.allowHash >= 0) trie.foundAllow = lower(trie.foundAllow, node.allowHash);
    if (node.denyHash >= 0) trie.foundDeny = lower(trie.foundDeny, node.denyHash);
  }
  if (i === count) {
    if (node.allowEnd >= 0) trie.foundAllow = lower(trie.foundAllow, node.allowEnd);
    if (node.denyEnd >= 0) trie.foundDeny = lower(trie.foundDeny, node.denyEnd);
    return;
  }
  const level = levels[i]!;
  if (node.literals !== null) {
    const child = node.literals.get(level);
    if (child !== undefined) walk(trie, child, levels, count, i + 1, vars, dollarTopic);
  }
  if (node.plus !== null && !(i === 0 && dollarTopic)) walk(trie, node.plus, levels, count, i + 1, vars, dollarTopic);
  if (node.placeholders !== null) {
    for (const edge of node.placeholders) {
      // Equality with a level of a valid topic name already excludes '+', '#' and '/'.
      const value = vars[edge.name];
      if (value !== undefined && value.length > 0 && value === level && isUsableValue(value)) {
        walk(trie, edge.node, levels, count, i + 1, vars, dollarTopic);
      }
    }
  }
}

// ---------------------------------------------------------------- filters (subscribe)

/**
 * Every topic the filter can match is matched by some allow rule (`deny`: by some deny rule).
 * Returns a rule index that takes part in the cover, or -1. `levels` is a valid, non-shared
 * filter split on `/`.
 */
export function coversFilter(trie: LevelTrie, levels: readonly string[], vars: AclVars, deny = false): number {
  const first = levels[0]!;
  const dollarFirst = trie.dollarRule && first !== '+' && first !== '#' && first.charCodeAt(0) === DOLLAR;
  let nodes: TrieNode[] = [trie.root];
  for (let i = 0; ; i++) {
    if (nodes.length === 0) return -1;
    for (const n of nodes) if (hashOf(n, deny) >= 0 && !(i === 0 && dollarFirst)) return hashOf(n, deny);
    if (i === levels.length) {
      for (const n of nodes) if (endOf(n, deny) >= 0) return endOf(n, deny);
      return -1;
    }
    const level = levels[i]!;
    const next: TrieNode[] = [];
    if (level === '#') {
      // Completions of k ≥ 0 fresh levels (k ≥ 1 at the first level: a topic is never empty).
      let current = nodes;
      for (let depth = i; ; depth++) {
        if (depth > 0) {
          let ends = -1;
          for (const n of current) if (endOf(n, deny) >= 0) ends = endOf(n, deny);
          if (ends < 0) return -1;
        }
        const deeper: TrieNode[] = [];
        for (const n of current) if (n.plus !== null) deeper.push(n.plus);
        if (deeper.length === 0) return -1;
        for (const n of deeper) if (hashOf(n, deny) >= 0) return hashOf(n, deny);
        current = deeper;
      }
    }
    if (level === '+') {
      for (const n of nodes) if (n.plus !== null) next.push(n.plus);
    } else {
      for (const n of nodes) {
        const child = n.literals?.get(level);
        if (child !== undefined) next.push(child);
        if (n.plus !== null && !(i === 0 && dollarFirst)) next.push(n.plus);
        if (n.placeholders !== null) {
          for (const edge of n.placeholders) {
            const value = vars[edge.name];
            if (value === level && isUsableValue(value)) next.push(edge.node);
          }
        }
      }
    }
    nodes = next;
  }
}

const hashOf = (n: TrieNode, deny: boolean) => (deny ? n.denyHash : n.allowHash);
const endOf = (n: TrieNode, deny: boolean) => (deny ? n.denyEnd : n.allowEnd);

/** Lowest index of a deny rule matching at least one topic of the filter, or -1. */
export function overlapsDeny(trie: LevelTrie, levels: readonly string[], vars: AclVars): number {
  if (!trie.root.hasDenyBelow) return -1;
  const first = levels[0]!;
  const dollarFirst = trie.dollarRule && first !== '+' && first !== '#' && first.charCodeAt(0) === DOLLAR;
  trie.foundDeny = -1;
  let nodes: TrieNode[] = [trie.root];
  for (let i = 0; nodes.length > 0; i++) {
    for (const n of nodes) if (n.denyHash >= 0 && !(i === 0 && dollarFirst)) trie.foundDeny = lower(trie.foundDeny, n.denyHash);
    if (i === levels.length) {
      for (const n of nodes) if (n.denyEnd >= 0) trie.foundDeny = lower(trie.foundDeny, n.denyEnd);
      break;
    }
    const level = levels[i]!;
    if (level === '#') {
      for (const n of nodes) anyDenyBelow(trie, n, i, i > 0, vars);
      break;
    }
    const next: TrieNode[] = [];
    for (const n of nodes) {
      if (!n.hasDenyBelow) continue;
      if (level === '+') {
        // The filter's level can take any value (not a `$` one at the first level).
        pushChildren(trie, n, i, vars, next);
      } else {
        const child = n.literals?.get(level);
        if (child !== undefined) next.push(child);
        if (n.plus !== null && !(i === 0 && dollarFirst)) next.push(n.plus);
        if (n.placeholders !== null) {
          for (const edge of n.placeholders) {
            const value = vars[edge.name];
            if (value === level && isUsableValue(value)) next.push(edge.node);
          }
        }
      }
    }
    nodes = next;
  }
  return trie.foundDeny;
}

/** Children reachable by some non-`$` (at depth 0) value, placeholders only with a usable value. */
function pushChildren(trie: LevelTrie, n: TrieNode, depth: number, vars: AclVars, out: TrieNode[]): void {
  const noDollar = depth === 0 && trie.dollarRule;
  if (n.denyLiterals !== null) {
    for (const [value, child] of n.denyLiterals) if (!(noDollar && value.charCodeAt(0) === DOLLAR)) out.push(child);
  }
  if (n.plus !== null && n.plus.hasDenyBelow) out.push(n.plus);
  if (n.placeholders !== null) {
    for (const edge of n.placeholders) {
      const value = vars[edge.name];
      if (edge.node.hasDenyBelow && isUsableValue(value) && !(noDollar && value.charCodeAt(0) === DOLLAR)) out.push(edge.node);
    }
  }
}

/** A filter `#` at `depth`: any deny rule reachable below `n` (or ending at `n` when `selfCounts`). */
function anyDenyBelow(trie: LevelTrie, n: TrieNode, depth: number, selfCounts: boolean, vars: AclVars): void {
  if (!n.hasDenyBelow) return;
  if (n.denyHash >= 0) trie.foundDeny = lower(trie.foundDeny, n.denyHash);
  if (selfCounts && n.denyEnd >= 0) trie.foundDeny = lower(trie.foundDeny, n.denyEnd);
  const children: TrieNode[] = [];
  pushChildren(trie, n, depth, vars, children);
  for (const child of children) anyDenyBelow(trie, child, depth + 1, true, vars);
}

/**
 * The compiled engine against a slow, obviously correct reference on random rule sets.
 *
 * Reference: resolve placeholders by substitution, match by splitting into levels. Subscribe:
 * enumerate every topic of a finite universe that the filter matches and require each to be
 * allowed. The universe (levels from the rules' alphabet plus one fresh value, up to one level
 * deeper than any rule) is enough: a topic longer than that, or with a level no rule names,
 * behaves like one in the universe.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AclRule, AclVars } from './acl-rule.ts';
import { checkAccess, checkSubscribeFiltered, compileRules, mayReceive } from './acl-engine.ts';

const LITERALS = ['a', 'b', '$', ''];
const FRESH = 'f';
const MAX_RULE_LEVELS = 3;

function refLevelsMatch(filter: readonly string[], topic: readonly string[]): boolean {
  if (topic[0]!.startsWith('$') && (filter[0] === '+' || filter[0] === '#')) return false;
  for (let i = 0; i < filter.length; i++) {
    if (filter[i] === '#') return true;
    if (i >= topic.length) return false;
    if (filter[i] !== '+' && filter[i] !== topic[i]) return false;
  }
  return filter.length === topic.length;
}

/** Rule filter with placeholders substituted; null when a value is unusable (the rule matches nothing). */
function resolve(filter: string, vars: AclVars): string[] | null {
  const out: string[] = [];
  for (const level of filter.split('/')) {
    const m = /^\$\{(\w+)\}$/.exec(level);
    if (m) {
      const v = vars[m[1] as keyof AclVars];
      if (v === undefined || v === '' || /[+#/]/.test(v)) return null;
      out.push(v);
    } else out.push(level);
  }
  return out;
}

type RefRule = { deny: boolean; publish: boolean; subscribe: boolean; filter: string };

function refTopicDecision(rules: readonly RefRule[], action: 'publish' | 'subscribe', topic: readonly string[], vars: AclVars) {
  let allowed = false;
  for (const r of rules) {
    if (!r[action]) continue;
    const f = resolve(r.filter, vars);
    if (f === null || !refLevelsMatch(f, topic)) continue;
    if (r.deny) return 'DENIED_BY_RULE';
    allowed = true;
  }
  return allowed ? 'ALLOWED' : 'NO_MATCHING_RULE';
}

const universe: string[][] = [];
(function build(prefix: string[]) {
  if (prefix.length > 0) universe.push(prefix);
  if (prefix.length === MAX_RULE_LEVELS + 1) return;
  for (const l of [...LITERALS, FRESH]) build([...prefix, l]);
})([]);

function refSubscribe(rules: readonly RefRule[], filter: string, vars: AclVars) {
  const f = filter.split('/');
  let sawDeny = false;
  let allAllowed = true;
  for (const topic of universe) {
    if (!refLevelsMatch(f, topic)) continue;
    const d = refTopicDecision(rules, 'subscribe', topic, vars);
    if (d === 'DENIED_BY_RULE') sawDeny = true;
    else if (d === 'NO_MATCHING_RULE') allAllowed = false;
  }
  return sawDeny ? 'DENIED_BY_RULE' : allAllowed ? 'ALLOWED' : 'NO_MATCHING_RULE';
}

const ruleLevel = fc.constantFrom('a', 'b', '$', '', '+', '${client_id}', '${username}');
const ruleFilter = fc
  .tuple(fc.array(ruleLevel, { minLength: 0, maxLength: MAX_RULE_LEVELS }), fc.boolean())
  .map(([levels, hash]) => (hash || levels.length === 0 ? [...levels, '#'] : levels).join('/'))
  .filter((f) => f.length > 0);
const refRule = fc.record({ deny: fc.boolean(), publish: fc.boolean(), subscribe: fc.boolean(), filter: ruleFilter });
const refRules = fc.array(refRule, { minLength: 0, maxLength: 6 });
const varValue = fc.constantFrom('a', 'b', '$', '', '+', '#', 'a/b', 'a+', undefined);
const vars = fc.record({ client_id: varValue, username: varValue }).map((v) => v as AclVars);
const topic = fc.array(fc.constantFrom(...LITERALS, FRESH), { minLength: 1, maxLength: MAX_RULE_LEVELS + 2 }).filter((t) => t.join('/').length > 0);
const filter = fc
  .tuple(fc.array(fc.constantFrom(...LITERALS, FRESH, '+'), { minLength: 1, maxLength: MAX_RULE_LEVELS }), fc.boolean())
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
  .filter((f) => f.length > 0);

function toAclRules(rules: readonly RefRule[]): AclRule[] {
  return rules.map((r) => ({
    effect: r.deny ? 'deny' : 'allow',
    // A rule must list at least one action: 'connect' keeps an unused rule valid.
    actions: [...(r.publish ? (['publish'] as const) : []), ...(r.subscribe ? (['subscribe'] as const) : []), 'connect'],
    resources: [`mqtt:${r.filter}`],
  }));
}

describe('compiled ACL vs reference matcher', () => {
  it('publish: 10,000 random rule sets and topics', () => {
    fc.assert(
      fc.property(refRules, vars, fc.array(topic, { minLength: 1, maxLength: 4 }), (rules, v, topics) => {
        const acl = compileRules(toAclRules(rules));
        for (const t of topics) {
          const got = checkAccess(acl, { action: 'publish', resource: `mqtt:${t.join('/')}`, vars: v });
          expect(got.reason).toBe(refTopicDecision(rules, 'publish', t, v));
        }
      }),
      { numRuns: 10_000 },
    );
  });

  it('subscribe: 10,000 random rule sets and filters (containment and deny overlap)', () => {
    fc.assert(
      fc.property(refRules, vars, filter, (rules, v, f) => {
        const got = checkAccess(compileRules(toAclRules(rules)), { action: 'subscribe', resource: `mqtt:${f}`, vars: v });
        expect(got.reason).toBe(refSubscribe(rules, f, v));
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('filtered subscribe (overlap with deny rules) vs reference', () => {
  /** Per topic of the universe the filter matches: is some allow rule matching it, is some deny rule? */
  function refFiltered(rules: readonly RefRule[], filter: string, v: AclVars) {
    const f = filter.split('/');
    let allCovered = true;
    let anyDenied = false;
    let allDenied = true;
    for (const topic of universe) {
      if (!refLevelsMatch(f, topic)) continue;
      let allow = false;
      let deny = false;
      for (const r of rules) {
        if (!r.subscribe) continue;
        const rf = resolve(r.filter, v);
        if (rf === null || !refLevelsMatch(rf, topic)) continue;
        if (r.deny) deny = true;
        else allow = true;
      }
      if (!allow) allCovered = false;
      if (deny) anyDenied = true;
      else allDenied = false;
    }
    return { grantedFiltered: allCovered && anyDenied && !allDenied };
  }

  it('10,000 random rule sets: granted-filtered exactly when covered, overlapping and not wholly denied; mayReceive = no deny rule', () => {
    fc.assert(
      fc.property(refRules, vars, filter, fc.array(topic, { minLength: 1, maxLength: 4 }), (rules, v, f, topics) => {
        const acl = compileRules(toAclRules(rules));
        const got = checkSubscribeFiltered(acl, f, v);
        const plain = checkAccess(acl, { action: 'subscribe', resource: `mqtt:${f}`, vars: v });
        if (got.filtered) {
          expect(got.allowed).toBe(true);
          expect(refFiltered(rules, f, v).grantedFiltered).toBe(true);
        } else {
          expect(got.allowed).toBe(plain.allowed);
          if (plain.reason === 'DENIED_BY_RULE') expect(refFiltered(rules, f, v).grantedFiltered).toBe(false);
        }
        for (const t of topics) {
          const denied = rules.some((r) => r.subscribe && r.deny && (() => {
            const rf = resolve(r.filter, v);
            return rf !== null && refLevelsMatch(rf, t);
          })());
          expect(mayReceive(acl, t.join('/'), v)).toBe(!denied);
        }
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('api: path patterns vs reference matcher', () => {
  // `*` one segment, `**` (last) zero or more segments; no `$` rule for paths.
  function refPathMatch(pattern: readonly string[], path: readonly string[]): boolean {
    for (let i = 0; i < pattern.length; i++) {
      if (pattern[i] === '**') return true;
      if (i >= path.length) return false;
      if (pattern[i] !== '*' && pattern[i] !== path[i]) return false;
    }
    return pattern.length === path.length;
  }
  const segment = fc.constantFrom('a', 'b', '$', 'f');
  const pattern = fc
    .tuple(fc.array(fc.constantFrom('a', 'b', '$', '*'), { maxLength: 3 }), fc.boolean())
    .map(([s, all]) => '/' + (all ? [...s, '**'] : s).join('/'));
  const path = fc.array(segment, { maxLength: 4 }).map((s) => '/' + s.join('/'));
  const apiRule = fc.record({ deny: fc.boolean(), pattern });

  it('read: 10,000 random rule sets and paths', () => {
    fc.assert(
      fc.property(fc.array(apiRule, { maxLength: 6 }), path, (rules, p) => {
        const acl = compileRules(rules.map((r) => ({ effect: r.deny ? 'deny' : 'allow', actions: ['read'], resources: [`api:${r.pattern}`] })));
        const segments = p.split('/');
        let expected = 'NO_MATCHING_RULE';
        for (const r of rules) {
          if (!refPathMatch(r.pattern.split('/'), segments)) continue;
          if (r.deny) expected = 'DENIED_BY_RULE';
          else if (expected !== 'DENIED_BY_RULE') expected = 'ALLOWED';
        }
        expect(checkAccess(acl, { action: 'read', resource: `api:${p}` }).reason).toBe(expected);
      }),
      { numRuns: 10_000 },
    );
  });
});

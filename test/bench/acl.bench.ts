/**
 * ACL benchmark: in-process checks/s for one token with 1,000 rules — Tollgate's compiled trie
 * versus casbin (npm) with a keyMatch2 model expressing the same rules, side by side in one run.
 *
 *   node test/bench/acl.bench.ts        (prints a table; ends by itself in ~15 s)
 *
 * casbin has no notion of MQTT subscribe containment: its "subscribe" row matches the filter text
 * against the patterns (what a keyMatch model can do), so it is a speed reference, not the same answer.
 * casbin has no placeholders either: `${client_id}` is substituted into its policy up front.
 */
import { newEnforcer, newModelFromString } from 'casbin';
import { type AccessDecision, checkAccess, compileRules } from '#libs/acl/acl-engine.ts';
import type { AclRule, AclVars } from '#libs/acl/acl-rule.ts';

export interface Result {
  engine: 'tollgate' | 'casbin';
  operation: 'publish' | 'subscribe';
  rules: number;
  checks: number;
  seconds: number;
  checksPerSecond: number;
  note?: string;
}

const RULES = 1_000;
const SAMPLE = 1_024; // power of two: index with & (SAMPLE - 1)
const AGREEMENT_SAMPLE = 240;
const vars: AclVars = { client_id: 'c1', account: 'acc_bench', username: 'u1', token: 'tok_bench' };

function buildRules(): AclRule[] {
  const rules: AclRule[] = [];
  for (let i = 0; i < 900; i++) {
    const filter = i % 3 === 0 ? `fleet/f${i}/+/telemetry` : i % 3 === 1 ? `fleet/f${i}/devices/#` : `fleet/f${i}/status`;
    rules.push({ effect: 'allow', actions: ['publish', 'subscribe'], resources: [`mqtt:${filter}`] });
  }
  for (let j = 0; j < 50; j++) rules.push({ effect: 'allow', actions: ['publish', 'subscribe'], resources: [`mqtt:clients/\${client_id}/ch${j}/#`] });
  for (let k = 0; k < 50; k++) rules.push({ effect: 'deny', actions: ['publish', 'subscribe'], resources: [`mqtt:fleet/f${k * 18 + 1}/devices/secret/#`] });
  return rules;
}

function buildTopics(): { publish: string[]; subscribe: string[] } {
  const publish: string[] = [];
  const subscribe: string[] = [];
  let seed = 42;
  const rnd = (n: number) => ((seed = (seed * 1_103_515_245 + 12_345) >>> 0) % n);
  for (let n = 0; n < SAMPLE; n++) {
    const i = rnd(900);
    switch (n % 6) {
      case 0: publish.push(`fleet/f${i}/d${rnd(100)}/telemetry`); subscribe.push(`fleet/f${i}/+/telemetry`); break;
      case 1: publish.push(`fleet/f${i}/devices/d${rnd(100)}/temp`); subscribe.push(`fleet/f${i}/devices/+/temp`); break;
      case 2: publish.push(`fleet/f${i}/status`); subscribe.push(`fleet/f${i}/status`); break;
      case 3: publish.push(`clients/c1/ch${rnd(60)}/x`); subscribe.push(`clients/c1/ch${rnd(60)}/#`); break;
      case 4: publish.push(`fleet/f${rnd(50) * 18 + 1}/devices/secret/k`); subscribe.push(`fleet/f${rnd(50) * 18 + 1}/devices/#`); break;
      default: publish.push(`other/${i}/x/y`); subscribe.push(`fleet/+/status`); break;
    }
  }
  return { publish, subscribe };
}

/** Runs `fn` over the sample until `budgetMs` has passed; returns checks and seconds. */
function measure(budgetMs: number, fn: (i: number) => unknown, warmup = 200_000, batch = 4_096): { checks: number; seconds: number } {
  for (let i = 0; i < warmup; i++) fn(i & (SAMPLE - 1)); // warm-up (JIT)
  let checks = 0;
  const start = performance.now();
  let now = start;
  while (now - start < budgetMs) {
    for (let i = 0; i < batch; i++) fn((checks + i) & (SAMPLE - 1));
    checks += batch;
    now = performance.now();
  }
  return { checks, seconds: (now - start) / 1000 };
}

const CASBIN_MODEL = `
[request_definition]
r = act, obj
[policy_definition]
p = act, obj, eft
[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))
[matchers]
m = r.act == p.act && keyMatch2(r.obj, p.obj)
`;

/** MQTT filter → keyMatch2 pattern: `+` → `:pN` (one level), trailing `#` → `*`; placeholders substituted. */
function toKeyMatch2(filter: string): string {
  let n = 0;
  return filter
    .split('/')
    .map((level) => (level === '+' ? `:p${n++}` : level === '#' ? '*' : level.replace(/^\$\{(\w+)\}$/, (_m, name: string) => vars[name as keyof AclVars] ?? '')))
    .join('/');
}

export async function runAclBench(options: { budgetMs?: number; casbinBudgetMs?: number } = {}): Promise<Result[]> {
  const budgetMs = options.budgetMs ?? 2_000;
  const casbinBudgetMs = options.casbinBudgetMs ?? 2_000;
  const rules = buildRules();
  const { publish, subscribe } = buildTopics();
  const results: Result[] = [];

  const acl = compileRules(rules);
  const pubResources = publish.map((t) => `mqtt:${t}`);
  const subResources = subscribe.map((t) => `mqtt:${t}`);
  let sink = 0;
  const count = (d: AccessDecision) => (sink += d.allowed ? 1 : 0);

  const pub = measure(budgetMs, (i) => count(checkAccess(acl, { action: 'publish', resource: pubResources[i]!, vars })));
  results.push({ engine: 'tollgate', operation: 'publish', rules: RULES, ...pub, checksPerSecond: pub.checks / pub.seconds });
  const sub = measure(budgetMs, (i) => count(checkAccess(acl, { action: 'subscribe', resource: subResources[i]!, vars })));
  results.push({ engine: 'tollgate', operation: 'subscribe', rules: RULES, ...sub, checksPerSecond: sub.checks / sub.seconds });

  const enforcer = await newEnforcer(newModelFromString(CASBIN_MODEL));
  const policies: string[][] = [];
  for (const r of rules) for (const a of r.actions) for (const res of r.resources) policies.push([a, toKeyMatch2(res.slice(5)), r.effect]);
  await enforcer.addPolicies(policies);

  // Same answers on publish (the rules avoid the one case keyMatch2 cannot say: `a/#` matching `a`).
  // casbin evaluates every policy line per check (milliseconds each with 1,000 lines): small samples.
  let agree = 0;
  for (let i = 0; i < AGREEMENT_SAMPLE; i++) {
    if (enforcer.enforceSync('publish', publish[i]!) === checkAccess(acl, { action: 'publish', resource: pubResources[i]!, vars }).allowed) agree++;
  }
  const cpub = measure(casbinBudgetMs, (i) => (sink += enforcer.enforceSync('publish', publish[i]!) ? 1 : 0), 50, 16);
  results.push({
    engine: 'casbin', operation: 'publish', rules: policies.length, ...cpub, checksPerSecond: cpub.checks / cpub.seconds,
    note: `same decision as tollgate on ${agree}/${AGREEMENT_SAMPLE} sample topics`,
  });
  const csub = measure(casbinBudgetMs, (i) => (sink += enforcer.enforceSync('subscribe', subscribe[i]!) ? 1 : 0), 50, 16);
  results.push({
    engine: 'casbin', operation: 'subscribe', rules: policies.length, ...csub, checksPerSecond: csub.checks / csub.seconds,
    note: 'filter text matched as a key, no containment',
  });
  if (sink < 0) console.log(sink); // keep the loops observable
  return results;
}

function printTable(results: Result[]): void {
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  console.log(`ACL checks, one token with ${RULES} rules, in process (node ${process.version})`);
  console.log('engine    operation   checks/s       vs casbin   note');
  for (const r of results) {
    const peer = results.find((p) => p.engine === 'casbin' && p.operation === r.operation);
    const ratio = r.engine === 'tollgate' && peer ? `${(r.checksPerSecond / peer.checksPerSecond).toFixed(0)}×` : '';
    console.log(`${r.engine.padEnd(9)} ${r.operation.padEnd(11)} ${fmt(r.checksPerSecond).padStart(12)}   ${ratio.padStart(9)}   ${r.note ?? ''}`);
  }
}

if (import.meta.main) {
  printTable(await runAclBench());
}

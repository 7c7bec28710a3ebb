/**
 * Console benchmark (issue 15): server time per console page with 1,000 accounts, 10,000 tokens
 * and 30 days of per-minute usage for 100 accounts (4.3 M rollup rows), on a fresh Postgres
 * database; and the plans of quota's usage queries (`EXPLAIN (ANALYZE, BUFFERS)`).
 *
 *   DATABASE_URL=postgres://… node test/bench/console.bench.ts      # or: npm run bench -- console
 *
 * Server time is request-to-last-byte over loopback from this process to the console, which runs
 * in this process with the whole mesh (one core's worth of work: every page is a chain of RPCs).
 * Needs Postgres (the seed is server-side `generate_series`); PGlite runs are refused.
 * Not a timed test: figures depend on the machine. Record them in docs/BENCHMARKS.md.
 */
import { request as httpRequest } from 'node:http';
import { availableParallelism, cpus } from 'node:os';
import postgres from 'postgres';
import { openDatabase } from '#libs/db/index.ts';
import { createScratchDatabase } from '../harness/database.ts';
import { startTestMesh } from '../harness/mesh.ts';

export interface ConsoleBenchRow {
  page: string;
  p50Ms: number;
  maxMs: number;
  status: number;
  bytes: number;
}

export interface ConsoleBenchOptions {
  accounts?: number;
  tokens?: number;
  usageAccounts?: number;
  usageDays?: number;
  /** Requests per page (after one warm-up). */
  repeats?: number;
  print?: boolean;
}

export interface ConsoleBenchResult {
  rows: ConsoleBenchRow[];
  plans: { name: string; plan: string }[];
  seedSeconds: { accounts: number; tokens: number; usage: number };
}

const PASSWORD = 'bench password that is long enough';
const BUDGET_MS = 300;

export async function runConsoleBench(options: ConsoleBenchOptions = {}): Promise<ConsoleBenchResult> {
  const accountCount = options.accounts ?? 1_000;
  const tokenCount = options.tokens ?? 10_000;
  const usageAccounts = options.usageAccounts ?? 100;
  const usageDays = options.usageDays ?? 30;
  const repeats = options.repeats ?? 5;
  const print = options.print ?? true;

  process.env.TOLLGATE_TEST_DATABASE_URL ??= process.env.DATABASE_URL;
  const scratch = await createScratchDatabase();
  if (!scratch) throw new Error('console bench: needs Postgres (set DATABASE_URL); the 4.3 M-row seed is not for PGlite');
  const database = await openDatabase({ url: scratch.url });
  const mesh = await startTestMesh({ database });
  const sql = postgres(scratch.url, { max: 2, onnotice: () => {} });
  try {
    const log = (text: string) => print && process.stdout.write(`${text}\n`);
    const identity = mesh.identity!.core;

    // 1,000 accounts through identity (its rules, depth and counters): root → 10 → the rest spread
    // under those, so the tree page draws three levels.
    let t0 = performance.now();
    const tenant = await mesh.createTenant('bench root');
    const root = tenant.accountId;
    const accounts: string[] = [root];
    const middle: string[] = [];
    for (let i = 0; i < 10 && accounts.length < accountCount; i++) {
      const a = await identity.createAccount({ name: `region ${i}`, parentId: root });
      middle.push(a.id);
      accounts.push(a.id);
    }
    for (let i = 0; accounts.length < accountCount; i++) {
      const a = await identity.createAccount({ name: `site ${i}`, parentId: middle[i % middle.length]! });
      accounts.push(a.id);
    }
    const owner = await identity.createUser({ username: 'bench-owner', password: PASSWORD, accountId: root, role: 'owner' });
    for (let i = 0; i < 50; i++) await identity.createUser({ username: `bench-user-${i}`, password: PASSWORD, accountId: root, role: i % 2 ? 'viewer' : 'member' });
    const accountsSeconds = (performance.now() - t0) / 1000;
    log(`seeded ${accounts.length} accounts and 51 users in ${accountsSeconds.toFixed(1)} s (owner ${owner.id})`);

    // 10,000 tokens in one statement: a fifth in the root (its tokens page is the biggest list),
    // the rest spread over every account. Digests are unique; no secret is ever usable.
    t0 = performance.now();
    await sql`
      insert into authz.tokens (id, account_id, name, kind, secret_hash, rules, created_by)
      select 'tok_bench' || lpad(g::text, 6, '0'),
             case when g <= ${Math.floor(tokenCount / 5)} then ${root} else (${accounts}::text[])[1 + g % ${accounts.length}] end,
             'bench token ' || g,
             (array['master', 'standard', 'acl'])[1 + g % 3],
             encode(sha256(('bench-' || g)::bytea), 'hex'),
             case when g % 3 = 2 then '[{"effect":"allow","actions":["publish","subscribe"],"resources":["mqtt:plant/+/telemetry"]}]'::jsonb else '[]'::jsonb end,
             'bench'
      from generate_series(1, ${tokenCount}) g`;
    const tokensSeconds = (performance.now() - t0) / 1000;
    log(`seeded ${tokenCount} tokens in ${tokensSeconds.toFixed(1)} s`);

    // 30 days × 1,440 minutes × 100 accounts of usage rollups in one INSERT … SELECT.
    t0 = performance.now();
    const usageIds = accounts.slice(0, usageAccounts);
    const [inserted] = await sql<{ count: string }[]>`
      with ins as (
        insert into quota.usage_minute (account_id, metric, minute, own, subtree)
        select a, 'mqtt.messages.in', m, (extract(epoch from m)::bigint % 97), (extract(epoch from m)::bigint % 97) * 3
        from unnest(${usageIds}::text[]) a
        cross join generate_series(date_trunc('minute', now()) - ${`${usageDays} days`}::interval, date_trunc('minute', now()), '1 minute') m
        returning 1)
      select count(*)::text as count from ins`;
    await sql`analyze quota.usage_minute`;
    await sql`analyze authz.tokens`;
    const usageSeconds = (performance.now() - t0) / 1000;
    log(`seeded ${Number(inserted?.count).toLocaleString('en')} usage rows in ${usageSeconds.toFixed(1)} s`);

    // The decision ring full (1,000 denials of the root): what the decisions page shows.
    for (let i = 0; i < 1_000; i++) {
      await Promise.resolve().then(() => mesh.authz!.core.authorize({ credential: { bearer: tenant.masterToken }, action: 'publish', resources: [`mqtt:$SYS/bench/${i}`], clientId: `bench-${i % 50}`, peerIp: '127.0.0.1', accountId: undefined, source: 'grpc' })).catch(() => undefined);
    }

    const base = mesh.console!.httpAddress;
    const cookie = await signIn(base, 'bench-owner');
    const site = accounts[accounts.length - 1]!;
    const pages = [
      '/',
      '/accounts',
      `/ui/accounts/${root}/summary`,
      `/ui/accounts/${site}/children`,
      `/ui/accounts/${middle[0]}/children`,
      '/tokens',
      `/tokens?account_id=${site}`,
      '/users',
      '/limits',
      `/limits?account_id=${usageIds[usageIds.length - 1]}`,
      '/decisions',
      '/decisions?denials_only=true',
      '/clients',
      '/audit',
      '/traces',
      `/api/v1/usage?metric=mqtt.messages.in&since_seconds=1800&step_seconds=60`,
      `/api/v1/usage?metric=mqtt.messages.in&since_seconds=${usageDays * 86_400}&step_seconds=3600`,
      `/api/v1/usage?metric=mqtt.messages.in&since_seconds=86400&step_seconds=300&subtree=true`,
    ];
    const rows: ConsoleBenchRow[] = [];
    for (const path of pages) {
      await get(base, path, cookie); // warm-up: connection, caches
      const times: number[] = [];
      let last = { status: 0, bytes: 0 };
      for (let i = 0; i < repeats; i++) {
        const started = performance.now();
        last = await get(base, path, cookie);
        times.push(performance.now() - started);
      }
      times.sort((a, b) => a - b);
      rows.push({ page: path.replace(root, '<root>').replace(middle[0]!, '<region>').replace(site, '<leaf>').replace(usageIds[usageIds.length - 1]!, '<usage acct>'), p50Ms: times[Math.floor(times.length / 2)]!, maxMs: times[times.length - 1]!, status: last.status, bytes: last.bytes });
    }

    // The plans of quota's usage query (PostgresUsageStore.usage) as the console's charts run it.
    const plans: { name: string; plan: string }[] = [];
    const explain = async (name: string, sinceSeconds: number) => {
      const lines = await sql.unsafe<{ 'QUERY PLAN': string }[]>(
        `explain (analyze, buffers) select account_id, metric, minute, own, subtree from quota.usage_minute
         where account_id = $1 and metric = $2 and minute >= now() - make_interval(secs => $3) and minute < now() order by minute`,
        [root, 'mqtt.messages.in', sinceSeconds],
      );
      plans.push({ name, plan: lines.map((l) => l['QUERY PLAN']).join('\n') });
    };
    await explain('usage, 30 minutes (live chart)', 1_800);
    await explain(`usage, ${usageDays} days`, usageDays * 86_400);

    if (print) {
      printTable(rows);
      for (const p of plans) log(`\nEXPLAIN (ANALYZE, BUFFERS) — ${p.name}:\n${p.plan}`);
      const slow = rows.filter((r) => r.p50Ms > BUDGET_MS);
      log(slow.length ? `\nover the ${BUDGET_MS} ms budget (p50): ${slow.map((r) => r.page).join(', ')}` : `\nevery page's p50 is within the ${BUDGET_MS} ms budget`);
    }
    return { rows, plans, seedSeconds: { accounts: accountsSeconds, tokens: tokensSeconds, usage: usageSeconds } };
  } finally {
    await sql.end({ timeout: 5 });
    await mesh.stop();
    await database.close();
    await scratch.drop();
  }
}

function send(base: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { method, headers: { origin: base, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const cookiesOf = (setCookie: string | string[] | undefined) => (Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []).map((l) => l.split(';')[0]!).join('; ');

/** Password sign-in through the login form (double-submit CSRF), as a browser does it. */
async function signIn(base: string, username: string): Promise<string> {
  const form = await send(base, 'GET', '/login', {});
  const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)?.[1];
  if (!csrf) throw new Error('console bench: no CSRF field on /login');
  const res = await send(base, 'POST', '/login', { cookie: cookiesOf(form.headers['set-cookie']), 'content-type': 'application/x-www-form-urlencoded' }, new URLSearchParams({ _csrf: csrf, username, password: PASSWORD }).toString());
  const session = cookiesOf(res.headers['set-cookie']).split('; ').find((c) => c.startsWith('tollgate_session='));
  if (res.status !== 303 || !session) throw new Error(`console bench: sign-in answered ${res.status}`);
  return session;
}

async function get(base: string, path: string, cookie: string): Promise<{ status: number; bytes: number }> {
  const res = await send(base, 'GET', path, { cookie });
  if (res.status >= 400) throw new Error(`console bench: ${path} answered ${res.status}: ${res.text.slice(0, 200)}`);
  return { status: res.status, bytes: Buffer.byteLength(res.text) };
}

function printTable(rows: ConsoleBenchRow[]): void {
  const header = ['page', 'p50 ms', 'max ms', 'status', 'KiB', `≤ ${BUDGET_MS} ms`];
  const body = rows.map((r) => [r.page, r.p50Ms.toFixed(1), r.maxMs.toFixed(1), String(r.status), (r.bytes / 1024).toFixed(1), r.p50Ms <= BUDGET_MS ? 'yes' : 'NO']);
  const widths = header.map((_, i) => Math.max(header[i]!.length, ...body.map((line) => line[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  console.log(`\n${line(header)}`);
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const cells of body) console.log(line(cells));
}

if (import.meta.main) {
  const started = performance.now();
  console.log(`console bench — node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'})\n`);
  await runConsoleBench();
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

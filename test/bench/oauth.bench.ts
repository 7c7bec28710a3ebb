/**
 * OAuth provider benchmark (part of `npm run bench -- identity`): client-credentials grants/s and
 * RFC 7662 introspections/s on identity's HTTP port, at 8 and 64 requests in flight, with p50/p99.
 * Identity runs in this process on a fresh database (on DATABASE_URL's server, else in-memory PGlite), so
 * the HTTP client shares its event loop: figures are a floor for a separate caller.
 *
 *   node test/bench/oauth.bench.ts
 */
import { availableParallelism, cpus } from 'node:os';
import { createRpcClient } from '#libs/rpc/index.ts';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { OAuthClientType } from '#gen/tollgate/identity/v1/oauth_clients_pb.js';
import { startTestMesh } from '../harness/mesh.ts';
import { openIsolatedTestDatabase } from '../harness/database.ts';
import { percentile, runClosedLoop } from './closed-loop.ts';

export interface OAuthBenchRow {
  name: string;
  inFlight: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

export async function runOAuthBench(options: { seconds?: number; print?: boolean } = {}): Promise<OAuthBenchRow[]> {
  const seconds = options.seconds ?? 5;
  // A database of the bench's own on DATABASE_URL's server (its keys sealed with this run's secret), else PGlite.
  process.env['TOLLGATE_TEST_DATABASE_URL'] ??= process.env['DATABASE_URL'];
  const database = await openIsolatedTestDatabase();
  const mesh = await startTestMesh({ database });
  const identity = createRpcClient(IdentityService, mesh.address('identity'));
  const rows: OAuthBenchRow[] = [];
  try {
    const issuer = mesh.services.find((s) => s.name === 'identity')!.httpAddress!;
    const t = await mesh.createTenant('oauth-bench');
    const created = await identity.createClient({ accountId: t.accountId, name: 'bench', type: OAuthClientType.SERVICE }, { headers: { authorization: `Bearer ${t.masterToken}` } });
    const basic = `Basic ${Buffer.from(`${encodeURIComponent(created.client!.id)}:${encodeURIComponent(created.clientSecret)}`).toString('base64')}`;
    const headers = { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' };
    let errors = 0;
    const post = async (path: string, body: string) => {
      const res = await fetch(`${issuer}${path}`, { method: 'POST', headers, body });
      const json = (await res.json()) as { access_token?: string; active?: boolean };
      if (res.status !== 200) errors++;
      return json;
    };
    const grant = () => post('/oauth/token', 'grant_type=client_credentials&scope=tollgate');
    const opaque = (await post('/oauth/token', 'grant_type=client_credentials')).access_token!;
    if (!(await post('/oauth/introspect', `token=${opaque}`)).active) throw new Error('introspection of a fresh token is inactive');
    const introspect = () => post('/oauth/introspect', `token=${encodeURIComponent(opaque)}`);
    for (const [name, call] of [['client_credentials grant (JWT access token)', grant], ['introspection (opaque token)', introspect]] as const) {
      for (const inFlight of [8, 64]) {
        errors = 0;
        const { latencies, elapsed } = await runClosedLoop(call, { seconds, inFlight, warmUpCalls: 50 });
        latencies.sort((a, b) => a - b);
        rows.push({ name, inFlight, perSecond: latencies.length / elapsed, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99), errors });
      }
    }
  } finally {
    identity.close();
    await mesh.stop();
    await database.close();
  }
  if (options.print ?? true) {
    console.log('\nOAuth provider (HTTP, client in the same process)\n');
    console.log(`${'scenario'.padEnd(44)}  in flight    req/s   p50 ms   p99 ms  errors`);
    for (const r of rows) console.log(`${r.name.padEnd(44)}  ${String(r.inFlight).padStart(9)}  ${r.perSecond.toFixed(0).padStart(7)}  ${r.p50Ms.toFixed(2).padStart(7)}  ${r.p99Ms.toFixed(2).padStart(7)}  ${String(r.errors).padStart(6)}`);
  }
  return rows;
}

if (import.meta.main) {
  console.log(`oauth bench — node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'})`);
  await runOAuthBench();
}

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRpcClient } from '#libs/rpc/index.ts';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { AuthzService } from '#gen/tollgate/authz/v1/authz_pb.js';
import { LimitKind, Period, QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { startTestMesh, type TestMesh } from '../harness/mesh.ts';

/**
 * The one-process mesh serves five HTTP ports; each scrape is its own service's registry, so a
 * Prometheus scraping all of them counts every event once.
 */
describe('metrics: one registry per service in the one-process mesh', () => {
  let mesh: TestMesh;
  let ports: Record<string, string>;
  beforeAll(async () => {
    mesh = await startTestMesh();
    ports = Object.fromEntries([...mesh.services.map((s) => [s.name, s.httpAddress!] as const), ['console', mesh.console!.httpAddress]]);
  });
  afterAll(async () => {
    await mesh?.stop();
  });

  const scrapeAll = async () => Object.fromEntries(await Promise.all(Object.entries(ports).map(async ([name, base]) => [name, await (await fetch(`${base}/metrics`)).text()] as const)));
  const linesOf = (text: string, pattern: RegExp) => text.split('\n').filter((line) => !line.startsWith('#') && pattern.test(line));
  const sampleValue = (line: string) => Number(line.slice(line.lastIndexOf(' ') + 1));

  it('has an HTTP port per service, including the broker, each live and ready', async () => {
    expect(Object.keys(ports).sort()).toEqual(['authz', 'broker', 'console', 'identity', 'quota']);
    for (const [name, base] of Object.entries(ports)) {
      expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ service: name, status: 'SERVING' });
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(200);
      expect(((await ready.json()) as { status: string }).status).toBe('READY');
    }
  });

  it('counts one Authorize in exactly one scrape (authz), in seconds, with authz as the span service', async () => {
    const authz = createRpcClient(AuthzService, mesh.address('authz'));
    const decided = await authz.authorize({ credential: { bearer: 'tg_not_a_token' }, action: 'publish', resource: 'mqtt:metrics/once', clientId: 'metrics-once' });
    authz.close();
    expect(decided.allowed).toBe(false);

    const scrapes = await scrapeAll();
    const authorizeCount = /^rpc_server_duration_seconds_count\{[^}]*rpc_method="tollgate\.authz\.v1\.AuthzService\/Authorize"/;
    const withAuthorize = Object.entries(scrapes).filter(([, text]) => linesOf(text, authorizeCount).length > 0);
    expect(withAuthorize.map(([name]) => name)).toEqual(['authz']);
    expect(linesOf(scrapes.authz!, authorizeCount).map(sampleValue).reduce((a, b) => a + b, 0)).toBe(1);
    // The histogram's buckets are seconds: a call of this mesh lands well under 10 s, above 0.5 ms buckets exist.
    expect(scrapes.authz).toMatch(/^rpc_server_duration_seconds_bucket\{[^}]*le="0\.0005"/m);

    const decisions = /^tollgate_authz_decisions_total\{/;
    expect(Object.entries(scrapes).filter(([, text]) => linesOf(text, decisions).length > 0).map(([name]) => name)).toEqual(['authz']);

    // Process and runtime metrics describe the one process: served once, not once per port.
    expect(Object.entries(scrapes).filter(([, text]) => linesOf(text, /^process_cpu_seconds_total /).length > 0)).toHaveLength(1);
    for (const [name, text] of Object.entries(scrapes)) expect(text).toContain(`target_info{service_name="${name}"}`);

    const span = mesh.telemetry.spans.list().find((s) => s.kind === 1 && s.name === 'tollgate.authz.v1.AuthzService/Authorize');
    expect(span?.service).toBe('authz');
  });

  it("counts quota's decisions by metric and result, on quota's port only", async () => {
    const t = await mesh.createTenant('quota-metrics');
    const auth = { headers: { authorization: `Bearer ${t.masterToken}` } };
    const quota = createRpcClient(QuotaService, mesh.address('quota'));
    await quota.setLimits({ accountId: t.accountId, limits: [{ metric: 'api.requests', kind: LimitKind.VOLUME, value: 2n, period: Period.DAY }] }, auth);
    const answers = [];
    const service = { headers: { authorization: `Bearer ${mintServiceCredential(mesh.secretKey, 'envoy')}` } }; // Consume is for mesh services
    for (let i = 0; i < 3; i++) answers.push((await quota.consume({ accountId: t.accountId, metric: 'api.requests', amount: 1n }, service)).allowed);
    quota.close();
    expect(answers).toEqual([true, true, false]);
    const scrapes = await scrapeAll();
    const counted = (result: string) => linesOf(scrapes.quota!, new RegExp(`^tollgate_quota_consumes_total\\{[^}]*metric="api\\.requests"[^}]*result="${result}"|^tollgate_quota_consumes_total\\{[^}]*result="${result}"[^}]*metric="api\\.requests"`)).map(sampleValue).reduce((a, b) => a + b, 0);
    // The mesh's other tests consume too (other metrics): this test's own account is the only api.requests one here.
    expect([counted('admitted'), counted('rejected')]).toEqual([2, 1]);
    expect(Object.entries(scrapes).filter(([, text]) => linesOf(text, /^tollgate_quota_consumes_total\{/).length > 0).map(([name]) => name)).toEqual(['quota']);
  });
});

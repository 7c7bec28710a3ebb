import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { createRpcClient } from '#libs/rpc/index.ts';
import { AuthzService, Effect, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { startTestMesh, type TestMesh } from '../harness/mesh.ts';

/**
 * docs/METRICS.md cannot drift: every family any service exports after some traffic (gRPC calls,
 * MQTT connects, publishes and denials) is named there. The doc's shorthands are expanded:
 * `a_{x,y}_b` is a_x_b and a_y_b, and "(and `_min`, …)" suffixes the name before it.
 */
function documentedNames(markdown: string): Set<string> {
  const names = new Set<string>();
  for (const line of markdown.split('\n')) {
    let base = '';
    for (const [, raw] of line.matchAll(/`([^`]+)`/g)) {
      const token = raw!.replace(/\{[a-z_,]+\}$/, ''); // trailing label list: `name{kind}`
      if (token.startsWith('_') && base) {
        names.add(base + token);
        continue;
      }
      const braces = /^(.*)\{([a-z0-9,]+)\}(.*)$/.exec(token);
      for (const name of braces ? braces[2]!.split(',').map((part) => braces[1]! + part + braces[3]!) : [token]) names.add(name);
      base = token;
    }
  }
  return names;
}

describe('docs/METRICS.md lists every exported metric', () => {
  let mesh: TestMesh;
  beforeAll(async () => {
    mesh = await startTestMesh();
  });
  afterAll(async () => {
    await mesh?.stop();
  });

  it('after traffic through every service, each family of each scrape is in the doc', async () => {
    const authz = createRpcClient(AuthzService, mesh.address('authz'));
    const t = await mesh.createTenant('metrics-doc');
    const { secret } = await authz.createToken(
      { accountId: t.accountId, name: 'device', kind: TokenKind.ACL, rules: [{ effect: Effect.ALLOW, actions: ['publish', 'subscribe'], resources: ['mqtt:ok/#'] }] },
      { headers: { authorization: `Bearer ${t.masterToken}` } },
    );
    const client = await mqtt.connectAsync(`mqtt://${mesh.broker!.mqttAddresses().tcp}`, { protocolVersion: 5, clientId: 'metrics-doc', username: secret, reconnectPeriod: 0 });
    await client.subscribeAsync('ok/#');
    await client.publishAsync('ok/a', 'x', { qos: 1 });
    await client.publishAsync('forbidden/a', 'x', { qos: 1 }).catch(() => undefined);
    // The denial report reaches authz (sentinel: it is in the decision log), so its families exist.
    for (const until = Date.now() + 3_000; ; ) {
      const { decisions } = await authz.listRecentDecisions({ accountId: t.accountId, denialsOnly: true }, { headers: { authorization: `Bearer ${t.masterToken}` } });
      if (decisions.some((d) => d.source === 'broker')) break;
      if (Date.now() > until) throw new Error('the broker denial never reached authz');
      await new Promise((r) => setTimeout(r, 25));
    }
    client.end(true);
    authz.close();

    const documented = documentedNames(readFileSync(new URL('../../docs/METRICS.md', import.meta.url), 'utf8'));
    const bases = [...mesh.services.map((s) => [s.name, s.httpAddress!] as const), ['console', mesh.console!.httpAddress] as const];
    const missing: string[] = [];
    let families = 0;
    for (const [service, base] of bases) {
      const text = await (await fetch(`${base}/metrics`)).text();
      for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
        families++;
        // Counters are exposed with `_total`; the doc names the sample, as a scrape shows it.
        const sample = type === 'counter' && !name!.endsWith('_total') ? `${name}_total` : name!;
        if (!documented.has(sample) && !documented.has(name!)) missing.push(`${service}: ${sample}`);
      }
    }
    expect(families).toBeGreaterThan(40);
    expect(missing).toEqual([]);
  });
});

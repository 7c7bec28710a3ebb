import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from '#libs/telemetry/index.ts';
import type { AuthzCore } from '../authz-core.ts';
import type { TokenRule } from '../domain/token-record.ts';
import type { BrokerCredentials } from './broker-credentials.ts';

/** Credentials nobody here knows: `ignore`, so EMQX's authenticator chain goes on. */
const UNKNOWN = new Set(['TOKEN_UNKNOWN', 'TOKEN_MALFORMED', 'CREDENTIAL_MISSING', 'INVALID_CREDENTIALS']);

async function fieldsOf(c: Context): Promise<Record<string, string>> {
  if (c.req.method === 'GET') return Object.fromEntries(new URL(c.req.url).searchParams);
  const type = c.req.header('content-type') ?? '';
  const text = await c.req.text();
  if (type.includes('application/json')) {
    const parsed = JSON.parse(text) as unknown;
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('body must be a JSON object');
    return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, v === null || v === undefined ? '' : String(v)]));
  }
  return Object.fromEntries(new URLSearchParams(text));
}

/** Our rules in EMQX's `acl` form (deny rules first: EMQX takes the first match, we let deny win). */
export function rulesToEmqxAcl(rules: readonly TokenRule[], values: { account: string; token: string }): { permission: 'allow' | 'deny'; action: 'publish' | 'subscribe'; topic: string }[] {
  const out: { permission: 'allow' | 'deny'; action: 'publish' | 'subscribe'; topic: string }[] = [];
  for (const effect of ['deny', 'allow'] as const) {
    for (const rule of rules.filter((r) => r.effect === effect)) {
      for (const action of rule.actions) {
        if (action !== 'publish' && action !== 'subscribe') continue;
        for (const resource of rule.resources) {
          if (!resource.startsWith('mqtt:')) continue;
          const topic = resource
            .slice(5)
            .replaceAll('${client_id}', '${clientid}')
            .replaceAll('${account}', values.account)
            .replaceAll('${token}', values.token);
          out.push({ permission: effect, action, topic });
        }
      }
    }
  }
  return out;
}

/**
 * EMQX 5 HTTP authentication (`/emqx/authn`) and authorization (`/emqx/authz`): 200 JSON with
 * `result` allow | deny | ignore. Never `is_superuser`: a superuser would skip topic checks and with
 * them the account boundary. Bad input is `ignore`/`deny`, never a 5xx.
 */
export function emqxRoutes(core: AuthzCore, credentials: BrokerCredentials, logger: Logger): Hono {
  const app = new Hono();
  app.use('*', bodyLimit({ maxSize: 16 * 1024, onError: (c) => c.json({ result: 'ignore' }, 200) }));

  const authn = async (c: Context) => {
    try {
      const f = await fieldsOf(c);
      if (!f.username) return c.json({ result: 'ignore', is_superuser: false });
      const outcome = await credentials.login(f.username, f.password ?? '', f.peerhost || undefined);
      if (!outcome.allowed) return c.json({ result: UNKNOWN.has(outcome.reason) ? 'ignore' : 'deny', is_superuser: false });
      const p = outcome.principal;
      return c.json({
        result: 'allow',
        is_superuser: false,
        ...(p.expiresAtMs !== undefined ? { expire_at: Math.floor(p.expiresAtMs / 1000) } : {}),
        ...(p.kind === 'acl' ? { acl: rulesToEmqxAcl(outcome.rules, { account: p.accountId, token: p.tokenId ?? '' }) } : {}),
      });
    } catch (error) {
      logger.debug({ err: error }, 'emqx authn: ignore');
      return c.json({ result: 'ignore', is_superuser: false });
    }
  };

  const authz = async (c: Context) => {
    try {
      const f = await fieldsOf(c);
      const credential = f.username ? credentials.credentialOf(f.username) : undefined;
      if (!credential) return c.json({ result: 'ignore' });
      const action = f.action === 'publish' ? 'publish' : f.action === 'subscribe' ? 'subscribe' : undefined;
      if (!action || !f.topic) return c.json({ result: 'deny' });
      if (action === 'publish' && (f.topic.includes('+') || f.topic.includes('#'))) return c.json({ result: 'deny' });
      const [d] = await core.authorize({ credential, action, resources: [`mqtt:${f.topic}`], clientId: f.clientid ?? '', peerIp: f.peerhost || undefined, accountId: undefined, source: 'emqx' });
      return c.json({ result: d?.allowed ? 'allow' : 'deny' });
    } catch (error) {
      logger.debug({ err: error }, 'emqx authz: deny');
      return c.json({ result: 'deny' });
    }
  };

  app.get('/authn', authn);
  app.post('/authn', authn);
  app.get('/authz', authz);
  app.post('/authz', authz);
  return app;
}

import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from '#libs/telemetry/index.ts';
import type { AuthzCore } from '../authz-core.ts';
import type { TokenRule } from '../domain/token-record.ts';
import { createAdapterRefusals, MALFORMED_REQUEST, NAMESPACE_MISMATCH, PRINCIPAL_UNKNOWN, REQUEST_TOO_LARGE, reasonOfError } from '../adapter-refusals.ts';
import type { BrokerCredentials } from './broker-credentials.ts';
import { flatJsonObject, MalformedRequest } from './flat-json.ts';
import { adapterTopic, createTopicNamespace, type SharedBrokerNamespace } from './adapter-topic.ts';

const MAX_BODY = 16 * 1024;

/** Credentials nobody here knows: `ignore`, so EMQX's authenticator chain goes on. */
const UNKNOWN = new Set(['TOKEN_UNKNOWN', 'TOKEN_MALFORMED', 'CREDENTIAL_MISSING', 'INVALID_CREDENTIALS']);


/** EMQX renders its request template as a query (GET), a JSON object or a form (POST): one string map. */
async function fieldsOf(c: Context): Promise<Record<string, string>> {
  if (c.req.method === 'GET') return Object.fromEntries(new URL(c.req.url).searchParams);
  const type = c.req.header('content-type') ?? '';
  const text = await c.req.text();
  if (type.includes('application/json') || (!type.includes('form') && text.trimStart().startsWith('{'))) return flatJsonObject(text);
  return Object.fromEntries(new URLSearchParams(text));
}

type EmqxAclRule = { permission: 'allow' | 'deny'; action: 'publish' | 'subscribe'; topic: string };

/**
 * Our rules in EMQX's `acl` form, for one connection (EMQX checks them in order before any
 * authorizer; a request none matches comes to `/emqx/authz`). Placeholders are filled here with
 * this connection's values, so EMQX never renders a client-chosen string into a filter; a rule whose
 * value is empty or contains `+`, `#`, `/` or `${` is left out, as it never matches in our engine.
 *
 * Only what EMQX decides exactly as we do is shipped. Deny rules always are: whatever EMQX denies
 * with one, we deny too. Allow rules are shipped only for actions no deny rule names — EMQX allows a
 * subscription when one rule's filter covers it, while we also refuse a filter that overlaps a deny
 * rule (`devices/c1/#` with deny `devices/c1/secret`), so with deny rules around those checks come
 * to us.
 *
 * In `account-prefix` mode every topic is shipped as `<account id>/<topic>`, the form EMQX is asked
 * about. Allow rules whose first level is a wildcard or starts with `$` are then left out: EMQX's
 * `<A>/#` matches `<A>/$x`, which the engine's `#` does not ([MQTT-4.7.2-1]), and `/emqx/authz`
 * refuses every `<A>/$…` topic (adapter-topic.ts); such checks come to us. Deny rules stay: what
 * they deny beyond the engine is a `<A>/$…` topic, refused anyway.
 */
export function rulesToEmqxAcl(
  rules: readonly TokenRule[],
  values: { account: string; token: string; clientId: string; username: string },
  namespace: SharedBrokerNamespace,
): EmqxAclRule[] {
  const fill: Record<string, string> = { account: values.account, token: values.token, client_id: values.clientId, username: values.username };
  const prefix = namespace === 'account-prefix' ? `${values.account}/` : '';
  const usable = (v: string) => v !== '' && !/[+#/]/.test(v) && !v.includes('${');
  const topicOf = (resource: string): string | undefined => {
    let topic = resource.slice(5);
    for (const [name, value] of Object.entries(fill)) {
      if (!topic.includes(`\${${name}}`)) continue;
      if (!usable(value)) return undefined;
      topic = topic.replaceAll(`\${${name}}`, value);
    }
    // `eq ` is EMQX's literal-filter prefix; a leftover `${` would be rendered by EMQX.
    return topic.includes('${') || topic.startsWith('eq ') ? undefined : topic;
  };
  const mqttActions = ['publish', 'subscribe'] as const;
  const denied = new Set(rules.filter((r) => r.effect === 'deny').flatMap((r) => r.actions));
  const out: EmqxAclRule[] = [];
  for (const effect of ['deny', 'allow'] as const) {
    for (const rule of rules.filter((r) => r.effect === effect)) {
      for (const action of mqttActions) {
        if (!rule.actions.includes(action) || (effect === 'allow' && denied.has(action))) continue;
        for (const resource of rule.resources) {
          if (!resource.startsWith('mqtt:')) continue;
          const topic = topicOf(resource);
          if (topic === undefined || (prefix && effect === 'allow' && /^[+#$]/.test(topic))) continue;
          out.push({ permission: effect, action, topic: `${prefix}${topic}` });
        }
      }
    }
  }
  return out;
}

/**
 * EMQX 5 HTTP authentication (`/emqx/authn`) and authorization (`/emqx/authz`): 200 JSON with
 * `result` allow | deny | ignore. Never `is_superuser`: a superuser would skip topic checks and with
 * them the account boundary. Unknown callers are `ignore` (EMQX's chain goes on); bad input is
 * `ignore` on authn and `deny` on authz — never a 5xx, which EMQX would read as `ignore`/no-match
 * — and is recorded as a decision (source `emqx`).
 *
 * EMQX has one topic space for every account: with `namespace` `account-prefix` (the default) every
 * topic is `<account id>/<topic>` (adapter-topic.ts); `none` checks topics as they are, in the
 * principal's account, and is for single-tenant deployments only.
 */
export function emqxRoutes(core: AuthzCore, credentials: BrokerCredentials, logger: Logger, options: { namespace?: SharedBrokerNamespace | undefined } = {}): Hono {
  const app = new Hono();
  const refusals = createAdapterRefusals(core);
  const topics = createTopicNamespace(core, options.namespace ?? 'account-prefix');
  const refuse = (c: Context, result: 'ignore' | 'deny', refusal: Omit<Parameters<typeof refusals.record>[0], 'source'>, extra: Record<string, unknown> = {}) =>
    refusals.record({ source: 'emqx', ...refusal }).then(() => c.json({ result, ...extra }));

  app.use(
    '*',
    bodyLimit({
      maxSize: MAX_BODY,
      onError: async (c) => {
        const isAuthn = c.req.path.endsWith('/authn');
        return refuse(c, isAuthn ? 'ignore' : 'deny', { reason: REQUEST_TOO_LARGE, action: isAuthn ? 'connect' : '' }, isAuthn ? { is_superuser: false } : {});
      },
    }),
  );

  const authn = async (c: Context) => {
    let f: Record<string, string> = {};
    try {
      f = await fieldsOf(c);
      const peerIp = f.peerhost || undefined;
      const base = { action: 'connect', clientId: f.clientid, peerIp };
      if (!f.username && !f.password) return await refuse(c, 'ignore', { ...base, reason: 'CREDENTIAL_MISSING' }, { is_superuser: false });
      const outcome = await credentials.login(f.username ?? '', f.password ?? '', peerIp, f.clientid || undefined);
      if (!outcome.allowed) return await refuse(c, UNKNOWN.has(outcome.reason) ? 'ignore' : 'deny', { ...base, reason: outcome.reason }, { is_superuser: false });
      const p = outcome.principal;
      return c.json({
        result: 'allow',
        is_superuser: false,
        // EMQX ≥ 5.7: usable in its templates as `${client_attrs.tollgate_account}`.
        client_attrs: { tollgate_account: p.accountId },
        ...(p.expiresAtMs !== undefined ? { expire_at: Math.floor(p.expiresAtMs / 1000) } : {}),
        ...(p.kind === 'acl' ? { acl: rulesToEmqxAcl(outcome.rules, { account: p.accountId, token: p.tokenId ?? '', clientId: f.clientid ?? '', username: f.username ?? '' }, topics.namespace) } : {}),
      });
    } catch (error) {
      if (!(error instanceof MalformedRequest)) logger.warn({ err: error }, 'emqx authn: ignore');
      return refuse(c, 'ignore', { reason: error instanceof MalformedRequest ? MALFORMED_REQUEST : reasonOfError(error), action: 'connect', clientId: f.clientid }, { is_superuser: false });
    }
  };

  const authz = async (c: Context) => {
    let f: Record<string, string> = {};
    try {
      f = await fieldsOf(c);
      const peerIp = f.peerhost || undefined;
      const base = { action: f.action, resource: f.topic === undefined ? undefined : `mqtt:${f.topic}`, clientId: f.clientid, peerIp };
      const credential = f.username ? credentials.credentialOf(f.username, f.clientid || undefined) : undefined;
      // Not one of ours: EMQX asks its next source (set `authorization.no_match = deny`).
      if (!credential) return await refuse(c, 'ignore', { ...base, reason: f.username ? PRINCIPAL_UNKNOWN : 'CREDENTIAL_MISSING' });
      const action = f.action === 'publish' ? 'publish' : f.action === 'subscribe' ? 'subscribe' : undefined;
      const topic = action && f.topic !== undefined ? adapterTopic(action, f.topic) : undefined;
      if (!action || topic === undefined) return await refuse(c, 'deny', { ...base, reason: MALFORMED_REQUEST, credential });
      const scoped = await topics.scope(credential, topic, peerIp);
      if (!scoped) return await refuse(c, 'deny', { ...base, reason: NAMESPACE_MISMATCH, credential });
      const [d] = await core.authorize({ credential, action, resources: [scoped.resource], clientId: f.clientid ?? '', peerIp, accountId: scoped.accountId, source: 'emqx' });
      return c.json({ result: d?.allowed ? 'allow' : 'deny' });
    } catch (error) {
      if (!(error instanceof MalformedRequest)) logger.warn({ err: error }, 'emqx authz: deny');
      return refuse(c, 'deny', { reason: error instanceof MalformedRequest ? MALFORMED_REQUEST : reasonOfError(error), action: f.action, resource: f.topic === undefined ? undefined : `mqtt:${f.topic}`, clientId: f.clientid });
    }
  };

  app.get('/authn', authn);
  app.post('/authn', authn);
  app.get('/authz', authz);
  app.post('/authz', authz);
  return app;
}

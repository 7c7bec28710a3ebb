import type { IncomingMessage } from 'node:http';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from '#libs/telemetry/index.ts';
import type { AuthzCore } from '../authz-core.ts';
import type { Credential } from '../core/credential.ts';
import { createAdapterRefusals, MALFORMED_REQUEST, REQUEST_TOO_LARGE, reasonOfError } from '../adapter-refusals.ts';
import { actionOfAcc, createGoAuthAcl } from '../go-auth-acl.ts';
import type { BrokerCredentials } from './broker-credentials.ts';
import { flatJsonObject } from './flat-json.ts';
import type { SharedBrokerNamespace } from './adapter-topic.ts';

const MAX_BODY = 16 * 1024;

class BadRequest extends Error {
  readonly reason: string;
  constructor(message: string, reason: string = MALFORMED_REQUEST) {
    super(message);
    this.reason = reason;
  }
}

/**
 * The request body. go-auth sends its JSON body with every method, GET included (`auth_opt_http_method
 * GET`); the fetch API drops a GET body, so it is read from the Node request itself, within the limit.
 */
async function bodyOf(c: Context): Promise<string> {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if ((c.req.method !== 'GET' && c.req.method !== 'HEAD') || !incoming || incoming.readableEnded) return c.req.text();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of incoming) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new BadRequest('body too large', REQUEST_TOO_LARGE);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** JSON (go-auth's default `params_mode`), a form (`params_mode form`), or a query string. */
async function paramsOf(c: Context): Promise<Record<string, string>> {
  const text = await bodyOf(c);
  const type = c.req.header('content-type') ?? '';
  if (type.includes('application/json') || text.trimStart().startsWith('{')) {
    try {
      return flatJsonObject(text);
    } catch (error) {
      throw new BadRequest((error as Error).message);
    }
  }
  return Object.fromEntries(new URLSearchParams(text || new URL(c.req.url).search));
}

/**
 * mosquitto-go-auth's HTTP backend (`/mosquitto/getuser`, `/superuser`, `/aclcheck`): JSON or form
 * parameters, by POST (go-auth's default), GET or PUT; 200 allows and 403 refuses, with a
 * `{"ok": bool, "error": string}` body so that its `status` and `json` response modes read the
 * same answer. Bad input is a 400 (413 when over 16 KiB) — a clean deny for go-auth, which retries
 * only on ≥ 500 — and is recorded as a decision (source `go-auth`). 503 only when a peer Tollgate
 * needs (identity) is unreachable.
 *
 * Mosquitto has one topic space for every account: with `namespace` `account-prefix` (the default)
 * every topic is `<account id>/<topic>` (adapter-topic.ts); `none` is for single-tenant deployments.
 */
export function goAuthRoutes(core: AuthzCore, credentials: BrokerCredentials, logger: Logger, options: { namespace?: SharedBrokerNamespace | undefined; subscribeOverlap?: 'filter' | 'refuse' | undefined } = {}): Hono {
  const app = new Hono();
  const refusals = createAdapterRefusals(core);
  const checkAcl = createGoAuthAcl(core, options.namespace ?? 'account-prefix', options.subscribeOverlap ?? 'filter');
  type Status = 400 | 403 | 413 | 503;
  const ok = (c: Context) => c.json({ ok: true, error: '' }, 200);
  const no = async (c: Context, status: Status, error: string, refusal?: Omit<Parameters<typeof refusals.record>[0], 'source'>) => {
    if (refusal) await refusals.record({ source: 'go-auth', ...refusal });
    return c.json({ ok: false, error }, status);
  };
  const failed = (c: Context, error: unknown, refusal: Omit<Parameters<typeof refusals.record>[0], 'source' | 'reason'>) => {
    if (error instanceof BadRequest) return no(c, error.reason === REQUEST_TOO_LARGE ? 413 : 400, error.message, { ...refusal, reason: error.reason });
    const reason = reasonOfError(error);
    logger.warn({ err: error }, 'go-auth check refused');
    return no(c, reason === 'UNAVAILABLE' ? 503 : 403, reason === 'UNAVAILABLE' ? 'unavailable' : 'refused', { ...refusal, reason });
  };

  app.use('*', bodyLimit({ maxSize: MAX_BODY, onError: (c) => no(c, 413, 'body too large', { reason: REQUEST_TOO_LARGE, action: c.req.path.endsWith('/getuser') ? 'connect' : '' }) }));

  app.on(['GET', 'POST', 'PUT'], '/getuser', async (c) => {
    let p: Record<string, string> = {};
    try {
      p = await paramsOf(c);
      const base = { action: 'connect', clientId: p.clientid };
      if (p.username === undefined) throw new BadRequest('username is required');
      if (!p.username) return await no(c, 400, 'username is required', { ...base, reason: 'CREDENTIAL_MISSING' });
      const outcome = await credentials.login(p.username, p.password ?? '', undefined, p.clientid || undefined);
      return outcome.allowed ? ok(c) : await no(c, 403, outcome.reason.toLowerCase(), { ...base, reason: outcome.reason });
    } catch (error) {
      return failed(c, error, { action: 'connect', clientId: p.clientid });
    }
  });

  // No superusers: a superuser would skip ACL checks and with them the account boundary. Not
  // recorded: go-auth asks before every ACL check (unless `auth_opt_disable_superuser true`).
  app.on(['GET', 'POST', 'PUT'], '/superuser', (c) => c.json({ ok: false, error: 'no superusers' }, 403));

  app.on(['GET', 'POST', 'PUT'], '/aclcheck', async (c) => {
    let p: Record<string, string> = {};
    let credential: Credential | undefined;
    try {
      p = await paramsOf(c);
      const base = { action: actionOfAcc(Number(p.acc)), resource: p.topic === undefined ? undefined : `mqtt:${p.topic}`, clientId: p.clientid };
      credential = p.username ? credentials.credentialOf(p.username, p.clientid || undefined) : undefined;
      const acc = Number(p.acc);
      if (!p.username || !p.topic || !Number.isInteger(acc) || acc < 1 || acc > 4) {
        return await no(c, 400, 'username, topic and acc (1-4) are required', { ...base, reason: MALFORMED_REQUEST, credential });
      }
      const answer = await checkAcl({ credential, acc, topic: p.topic, clientId: p.clientid ?? '' });
      if (answer.ok) return ok(c);
      if (answer.reason === 'invalid_topic') return await no(c, 400, 'not a valid topic for this acc', { ...base, reason: MALFORMED_REQUEST, credential });
      return await no(c, 403, answer.reason === 'PRINCIPAL_UNKNOWN' ? 'unknown user' : answer.reason.toLowerCase());
    } catch (error) {
      return failed(c, error, { action: actionOfAcc(Number(p.acc)), resource: p.topic === undefined ? undefined : `mqtt:${p.topic}`, clientId: p.clientid, credential });
    }
  });
  return app;
}

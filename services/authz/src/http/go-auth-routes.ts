import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from '#libs/telemetry/index.ts';
import type { AuthzCore } from '../authz-core.ts';
import type { BrokerCredentials } from './broker-credentials.ts';

/** mosquitto-go-auth `acc` values: 1 read (a delivery), 2 write, 3 read + write, 4 subscribe. */
const ACC_READ = 1;
const ACC_WRITE = 2;
const ACC_SUBSCRIBE = 4;

async function paramsOf(c: Context): Promise<Record<string, string>> {
  const text = await c.req.text();
  const type = c.req.header('content-type') ?? '';
  if (type.includes('application/json') || text.trimStart().startsWith('{')) {
    const parsed = JSON.parse(text) as unknown;
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('body must be a JSON object');
    return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, v === null || v === undefined ? '' : String(v)]));
  }
  return Object.fromEntries(new URLSearchParams(text || new URL(c.req.url).search));
}

/**
 * mosquitto-go-auth's HTTP backend (`/mosquitto/getuser`, `/superuser`, `/aclcheck`): JSON or form
 * parameters; 200 allows and 403 refuses, with a `{"ok": bool, "error": string}` body so that both
 * its `status` and `json` response modes read the same answer. Bad input is a 4xx, never a 5xx.
 */
export function goAuthRoutes(core: AuthzCore, credentials: BrokerCredentials, logger: Logger): Hono {
  const app = new Hono();
  app.use('*', bodyLimit({ maxSize: 16 * 1024, onError: (c) => c.json({ ok: false, error: 'body too large' }, 413) }));
  const ok = (c: Context) => c.json({ ok: true, error: '' }, 200);
  const no = (c: Context, error: string, status: 400 | 403 = 403) => c.json({ ok: false, error }, status);

  app.post('/getuser', async (c) => {
    let p: Record<string, string>;
    try {
      p = await paramsOf(c);
    } catch {
      return no(c, 'malformed parameters', 400);
    }
    if (!p.username) return no(c, 'username is required', 400);
    try {
      const outcome = await credentials.login(p.username, p.password ?? '', undefined);
      return outcome.allowed ? ok(c) : no(c, outcome.reason.toLowerCase());
    } catch (error) {
      logger.debug({ err: error }, 'go-auth getuser refused');
      return no(c, 'refused');
    }
  });

  // No superusers: a superuser would skip ACL checks and with them the account boundary.
  app.post('/superuser', (c) => no(c, 'no superusers'));

  app.post('/aclcheck', async (c) => {
    let p: Record<string, string>;
    try {
      p = await paramsOf(c);
    } catch {
      return no(c, 'malformed parameters', 400);
    }
    const acc = Number(p.acc);
    if (!p.username || !p.topic || !Number.isInteger(acc) || acc < 1 || acc > 4) return no(c, 'username, topic and acc (1-4) are required', 400);
    const credential = credentials.credentialOf(p.username);
    if (!credential) return no(c, 'unknown user');
    const actions: ('publish' | 'subscribe')[] = [];
    if (acc & ACC_WRITE) actions.push('publish');
    if (acc & ACC_READ || acc & ACC_SUBSCRIBE) actions.push('subscribe');
    try {
      for (const action of actions) {
        if (action === 'publish' && (p.topic.includes('+') || p.topic.includes('#'))) return no(c, 'wildcards cannot be published to');
        const [d] = await core.authorize({ credential, action, resources: [`mqtt:${p.topic}`], clientId: p.clientid ?? '', peerIp: undefined, accountId: undefined, source: 'go-auth' });
        if (!d?.allowed) return no(c, (d?.reason ?? 'denied').toLowerCase());
      }
      return ok(c);
    } catch (error) {
      logger.debug({ err: error }, 'go-auth aclcheck refused');
      return no(c, 'refused');
    }
  });
  return app;
}

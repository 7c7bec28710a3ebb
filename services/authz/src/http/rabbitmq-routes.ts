import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from '#libs/telemetry/index.ts';
import type { AuthzCore } from '../authz-core.ts';
import type { BrokerCredentials } from './broker-credentials.ts';

const MAX_BODY = 16 * 1024;

/** RabbitMQ routing key (on a topic exchange) → MQTT topic or filter: `.` → `/`, `*` → `+`, `#` stays. */
export function routingKeyToTopic(routingKey: string): string {
  return routingKey
    .split('.')
    .map((word) => (word === '*' ? '+' : word))
    .join('/');
}

/**
 * `rabbitmq_auth_backend_http` (3.10, as observed on the wire): four endpoints, GET query or POST
 * form, answers `200` with exactly `allow` or `deny` (no newline). Everything that cannot be
 * answered yes — bad input, unknown users, errors — is `deny`: RabbitMQ fails closed anyway, and a
 * client's mistake never becomes a 5xx. vhost `/` is the principal's own account; any other vhost
 * names an account id (a parent's master token may name a subaccount).
 */
export function rabbitmqRoutes(core: AuthzCore, credentials: BrokerCredentials, logger: Logger): Hono {
  const app = new Hono();
  app.use('*', bodyLimit({ maxSize: MAX_BODY, onError: (c) => c.text('deny', 200) }));

  const answer = (c: Context, allowed: boolean) => c.body(allowed ? 'allow' : 'deny', 200, { 'content-type': 'text/plain' });
  const fields = async (c: Context): Promise<URLSearchParams> => (c.req.method === 'POST' ? new URLSearchParams(await c.req.text()) : new URL(c.req.url).searchParams);
  const accountOf = (vhost: string | null) => (!vhost || vhost === '/' ? undefined : vhost);
  const guarded = (handler: (c: Context, f: URLSearchParams) => Promise<boolean>) => async (c: Context) => {
    try {
      return answer(c, await handler(c, await fields(c)));
    } catch (error) {
      logger.debug({ err: error }, 'rabbitmq check refused');
      return answer(c, false);
    }
  };

  const authorize = async (f: URLSearchParams, action: 'connect' | 'publish' | 'subscribe', resource: string | undefined, clientId: string, ip?: string) => {
    const credential = credentials.credentialOf(f.get('username') ?? '');
    if (!credential) return undefined;
    const [decision] = await core.authorize({ credential, action, resources: resource === undefined ? [] : [resource], clientId, peerIp: ip, accountId: accountOf(f.get('vhost')), source: 'rabbitmq' });
    return decision;
  };

  for (const method of ['get', 'post'] as const) {
    app[method]('/user', guarded(async (_c, f) => {
      const username = f.get('username');
      if (!username) return false;
      return (await credentials.login(username, f.get('password') ?? '', undefined)).allowed;
    }));
    app[method]('/vhost', guarded(async (_c, f) => {
      const decision = await authorize(f, 'connect', undefined, f.get('client_id') ?? '', f.get('ip') ?? undefined);
      // An acl token may connect unless a rule denies `connect` (as on Tollgate's own broker).
      return !!decision && (decision.allowed || decision.reason === 'NO_MATCHING_RULE');
    }));
    app[method]('/resource', guarded(async (_c, f) => {
      const decision = await authorize(f, 'connect', undefined, f.get('client_id') ?? '');
      if (!decision || !(decision.allowed || decision.reason === 'NO_MATCHING_RULE')) return false;
      if (decision.allowed) return true; // master, standard, users: every queue and exchange of their vhost
      // acl tokens: what MQTT-through-RabbitMQ needs, nothing else; topics are checked by /topic.
      const name = f.get('name') ?? '';
      const clientId = f.get('client_id') ?? '';
      if (f.get('resource') === 'exchange') return name === 'amq.topic';
      return name.startsWith('amq.gen-') || (clientId !== '' && (name === `mqtt-subscription-${clientId}qos0` || name === `mqtt-subscription-${clientId}qos1`));
    }));
    app[method]('/topic', guarded(async (_c, f) => {
      const routingKey = f.get('routing_key');
      if (!routingKey || f.get('resource') !== 'topic') return false;
      const topic = routingKeyToTopic(routingKey);
      const permission = f.get('permission');
      const clientId = f.get('variable_map.client_id') ?? f.get('client_id') ?? '';
      if (permission === 'write') {
        if (topic.includes('+') || topic.includes('#')) return false;
        return (await authorize(f, 'publish', `mqtt:${topic}`, clientId))?.allowed ?? false;
      }
      if (permission === 'read') return (await authorize(f, 'subscribe', `mqtt:${topic}`, clientId))?.allowed ?? false;
      return false;
    }));
  }
  return app;
}

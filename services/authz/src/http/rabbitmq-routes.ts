import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { toAppError } from '#libs/errors/index.ts';
import type { Logger } from '#libs/telemetry/index.ts';
import type { AuthzCore } from '../authz-core.ts';
import type { AuthenticateOutcome, Credential, Principal } from '../core/credential.ts';
import type { BrokerCredentials } from './broker-credentials.ts';
import { accountOfVhost, aclResourceRefusal, isRoutingKeyUnsupported, routingKeyToTopic, userMayUseResource } from '../domain/rabbitmq-resource-policy.ts';

const MAX_BODY = 16 * 1024;
const SOURCE = 'rabbitmq';

/** Refusal reasons of this adapter (beside the engine's): the same names as the other adapters'. */
export const rabbitmqReasons = {
  /** A field is missing or cannot be read; the body is over 16 KiB (REQUEST_TOO_LARGE). */
  malformed: 'MALFORMED_REQUEST',
  tooLarge: 'REQUEST_TOO_LARGE',
  /** A username that is not a token and has no remembered login. */
  principalUnknown: 'PRINCIPAL_UNKNOWN',
  /** The vhost is neither an account id nor `/` bound to one (TOLLGATE_RABBITMQ_DEFAULT_VHOST_ACCOUNT). */
  vhostNotAccount: 'VHOST_NOT_ACCOUNT',
  /** A routing key this adapter cannot reason about as an MQTT topic (see `/topic`). */
  routingKeyUnsupported: 'ROUTING_KEY_UNSUPPORTED',
} as const;

export interface RabbitmqRoutesOptions {
  /**
   * The account RabbitMQ's default vhost `/` stands for (a single-tenant deployment); unset, `/`
   * is refused: every account uses the vhost named by its id, so tenants never share an exchange.
   */
  defaultVhostAccountId?: string | undefined;
}

/**
 * `rabbitmq_auth_backend_http` (3.10.8, as observed on the wire; test/interop/rabbitmq.test.ts runs
 * a real node against it): four endpoints, GET query or POST form, answers `200` with exactly
 * `allow` or `deny` (no newline, no tags). Everything that cannot be answered yes — bad input,
 * unknown users, errors — is `deny`: RabbitMQ fails closed anyway, and a client's mistake never
 * becomes a 5xx. Every refusal is a decision (`source: 'rabbitmq'`) in the recent-decisions ring.
 *
 * Tenancy: the vhost IS the account. A principal may use the vhost named by its own account id; a
 * parent's master token may name a subaccount (core.authorize's account selector). `/` is refused
 * unless `defaultVhostAccountId` binds it to one account. Vhosts are RabbitMQ's isolation unit
 * (exchanges, queues, bindings), so two accounts never share `amq.topic`.
 */
export function rabbitmqRoutes(core: AuthzCore, credentials: BrokerCredentials, logger: Logger, options: RabbitmqRoutesOptions = {}): Hono {
  const app = new Hono();

  const record = (
    allowed: boolean,
    reason: string,
    d: { action: string; resource: string; principal?: Principal | undefined; accountId?: string | undefined; clientId?: string | null | undefined; peerIp?: string | null | undefined },
  ) =>
    core.decisions.record({
      atMs: core.clock.nowMs(),
      allowed,
      reason,
      action: d.action,
      resource: d.resource.slice(0, 256),
      accountId: d.accountId ?? d.principal?.accountId ?? '',
      subject: d.principal?.subject ?? '',
      clientId: (d.clientId ?? '').slice(0, 256),
      peerIp: (d.peerIp ?? '').slice(0, 64),
      source: SOURCE,
    });

  app.use(
    '*',
    bodyLimit({
      maxSize: MAX_BODY,
      onError: (c) => {
        record(false, rabbitmqReasons.tooLarge, { action: 'connect', resource: '' });
        return c.text('deny', 200);
      },
    }),
  );

  const answer = (c: Context, allowed: boolean) => c.body(allowed ? 'allow' : 'deny', 200, { 'content-type': 'text/plain' });
  const fields = async (c: Context): Promise<URLSearchParams> => (c.req.method === 'POST' ? new URLSearchParams(await c.req.text()) : new URL(c.req.url).searchParams);
  const guarded = (action: string, handler: (f: URLSearchParams) => Promise<boolean>) => async (c: Context) => {
    let f: URLSearchParams | undefined;
    try {
      f = await fields(c);
      return answer(c, await handler(f));
    } catch (error) {
      // Could not be answered (a malformed topic, identity unreachable…): a refusal all the same.
      const appError = toAppError(error);
      const reason = appError.code === 'INVALID_ARGUMENT' ? rabbitmqReasons.malformed : appError.code;
      if (appError.code === 'INVALID_ARGUMENT') logger.debug({ err: error }, 'rabbitmq check refused');
      else logger.warn({ err: error }, 'rabbitmq check could not be answered: refused');
      record(false, reason, { action, resource: f?.get('name') ?? '', clientId: f?.get('client_id') ?? f?.get('variable_map.client_id') });
      return answer(c, false);
    }
  };

  /**
   * Who is asking, and which account (vhost) for. Refusals are recorded here, under the caller's
   * account when it is known. `credential` is for core.authorize: the remembered login, or the
   * token itself (so the core uses its compiled rules).
   */
  const admit = async (
    f: URLSearchParams,
    action: string,
    resource: string,
    peerIp: string | undefined,
    ipCheckedElsewhere = false,
  ): Promise<{ credential: Credential; outcome: Extract<AuthenticateOutcome, { allowed: true }>; accountId: string } | undefined> => {
    const username = f.get('username');
    const vhost = f.get('vhost');
    const clientId = f.get('client_id') ?? f.get('variable_map.client_id');
    if (!username || vhost === null) {
      record(false, rabbitmqReasons.malformed, { action, resource, clientId, peerIp });
      return undefined;
    }
    const credential = credentials.credentialOf(username, clientId || undefined);
    if (!credential) {
      record(false, rabbitmqReasons.principalUnknown, { action, resource, clientId, peerIp });
      return undefined;
    }
    const remembered = credential.authenticated;
    // A token remembered from its `user` login (the token was the password) had no IP to check then:
    // on the call that carries the peer address it is decided again, allow-list included.
    const outcome =
      remembered?.allowed && remembered.principal.tokenId && !ipCheckedElsewhere
        ? await core.authenticateTokenId(remembered.principal.tokenId, peerIp)
        : (remembered ?? (await core.authenticate({ username, password: '', bearer: '', peerIp, ipCheckedElsewhere })));
    if (!outcome.allowed) {
      record(false, outcome.reason, { action, resource, clientId, peerIp });
      return undefined;
    }
    const accountId = accountOfVhost(vhost, options.defaultVhostAccountId);
    if (!accountId) {
      record(false, rabbitmqReasons.vhostNotAccount, { action, resource: `vhost:${vhost}`, principal: outcome.principal, clientId, peerIp });
      return undefined;
    }
    return { credential, outcome, accountId };
  };

  /** Scope for principals that are not acl tokens: the core's account selector decides (and records). */
  const mayEnter = async (admitted: { credential: Credential; outcome: AuthenticateOutcome; accountId: string }, clientId: string, peerIp: string | undefined) => {
    const [decision] = await core.authorize({ credential: { authenticated: admitted.outcome, username: admitted.credential.username }, action: 'connect', resources: [], clientId, peerIp, accountId: admitted.accountId, source: SOURCE });
    return decision?.allowed ?? false;
  };

  for (const method of ['get', 'post'] as const) {
    // Authentication only: AMQP sends no vhost here (MQTT does); the vhost check decides the account.
    app[method]('/user', guarded('connect', async (f) => {
      const username = f.get('username');
      const clientId = f.get('client_id');
      if (!username) {
        record(false, rabbitmqReasons.malformed, { action: 'connect', resource: '', clientId });
        return false;
      }
      // The `user` call carries no IP (contract §3.4): a token's IP allow-list is checked on `vhost`,
      // the one call of every connection that carries the peer address; RabbitMQ makes no
      // resource or topic call for a connection whose vhost check was refused.
      const outcome = await credentials.login(username, f.get('password') ?? '', undefined, clientId || undefined, { ipCheckedElsewhere: true });
      if (!outcome.allowed) record(false, outcome.reason, { action: 'connect', resource: f.get('vhost') === null ? '' : `vhost:${f.get('vhost')}`, clientId });
      return outcome.allowed;
    }));

    app[method]('/vhost', guarded('connect', async (f) => {
      const vhost = f.get('vhost') ?? '';
      const clientId = f.get('client_id') ?? '';
      const ip = f.get('ip') || undefined;
      const admitted = await admit(f, 'connect', `vhost:${vhost}`, ip);
      if (!admitted) return false;
      const { principal } = admitted.outcome;
      if (principal.kind !== 'acl') return mayEnter(admitted, clientId, ip);
      // acl tokens never select another account. Whether they may connect at all was answered by
      // core.authenticate (CONNECT_DENIED, acl-engine.ts `mayConnect`), on `user` and again here.
      const refuse = principal.accountId !== admitted.accountId ? 'ACCOUNT_NOT_IN_SCOPE' : undefined;
      // Recorded in the caller's own account (as the core does): a named account learns nothing of strangers.
      record(!refuse, refuse ?? 'ALLOWED', { action: 'connect', resource: `vhost:${vhost}`, principal, clientId, peerIp: ip });
      return !refuse;
    }));

    app[method]('/resource', guarded('connect', async (f) => {
      const kind = f.get('resource');
      const name = f.get('name') ?? '';
      const permission = f.get('permission');
      const clientId = f.get('client_id') ?? '';
      const described = `${kind ?? '?'}:${name}`;
      const admitted = await admit(f, permission ?? '', described, undefined, true);
      if (!admitted) return false;
      const { principal } = admitted.outcome;
      if (principal.kind !== 'acl') {
        // Users act by role (libs/policy/role-policy.ts): writing to an exchange is publishing.
        if (principal.kind === 'user' && !userMayUseResource(principal.role, kind, permission)) {
          record(false, 'ROLE_NOT_ALLOWED', { action: permission ?? '', resource: described, principal, clientId });
          return false;
        }
        // Master, standard and users: every queue and exchange of the vhosts they may enter.
        return mayEnter(admitted, clientId, undefined);
      }
      const refuse = aclResourceRefusal({ principalAccountId: principal.accountId, vhostAccountId: admitted.accountId, resource: kind, name, permission, clientId });
      record(!refuse, refuse ?? 'ALLOWED', { action: permission ?? '', resource: described, principal, clientId });
      return !refuse;
    }));

    app[method]('/topic', guarded('publish', async (f) => {
      const routingKey = f.get('routing_key');
      const permission = f.get('permission');
      const clientId = f.get('variable_map.client_id') ?? f.get('client_id') ?? '';
      const action = permission === 'write' ? 'publish' : permission === 'read' ? 'subscribe' : undefined;
      const username = f.get('username');
      const vhost = f.get('vhost');
      const resource = `mqtt:${routingKeyToTopic(routingKey ?? '')}`;
      if (routingKey === null || !action || f.get('resource') !== 'topic' || !username || vhost === null) {
        record(false, rabbitmqReasons.malformed, { action: action ?? permission ?? '', resource: routingKey ?? '', clientId });
        return false;
      }
      const credential = credentials.credentialOf(username, clientId || undefined);
      if (!credential) {
        record(false, rabbitmqReasons.principalUnknown, { action, resource, clientId });
        return false;
      }
      const accountId = accountOfVhost(vhost, options.defaultVhostAccountId);
      // Routing keys that cannot be reasoned about as MQTT topics: see isRoutingKeyUnsupported.
      const unsupported = isRoutingKeyUnsupported(routingKey, action);
      if (!accountId || unsupported) {
        const outcome = credential.authenticated ?? (await core.authenticate({ username, password: '', bearer: '', peerIp: undefined, ipCheckedElsewhere: true }));
        const principal = outcome.allowed ? outcome.principal : undefined;
        record(false, accountId ? rabbitmqReasons.routingKeyUnsupported : rabbitmqReasons.vhostNotAccount, { action, resource: accountId ? resource : `vhost:${vhost}`, principal, clientId });
        return false;
      }
      // Topic patterns are filters: subscribe is allowed only if every topic the pattern can match is.
      const [decision] = await core.authorize({ credential, action, resources: [resource], clientId, peerIp: undefined, accountId, source: SOURCE, ipCheckedElsewhere: true });
      return decision?.allowed ?? false;
    }));
  }
  return app;
}

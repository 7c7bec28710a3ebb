import { isIP } from 'node:net';
import { readFileSync } from 'node:fs';
import { timestampFromMs, timestampMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import { parseDurationMs, type MeshEnv } from '#libs/config/index.ts';
import { AppError, invalidArgument } from '#libs/errors/index.ts';
import { createRpcClient } from '#libs/rpc/index.ts';
import { AuthzService, Effect, TokenKind, type Token } from '#gen/tollgate/authz/v1/authz_pb.js';
import { IdentityService, Role, type Account } from '#gen/tollgate/identity/v1/identity_pb.js';
import { BrokerAdminService } from '#gen/tollgate/broker/v1/broker_pb.js';
import { LimitKind, Period, QuotaService, type EffectiveLimit } from '#gen/tollgate/quota/v1/quota_pb.js';
import { UsageError, type Output } from '../output.ts';
import { clientTls, resolveCliToken, serviceAddress } from '../endpoints.ts';

export interface AdminArgs {
  positionals: string[];
  flags: Record<string, string | string[] | boolean | undefined>;
  env: MeshEnv;
  envToken: string | undefined;
  out: Output;
  readStdin(): Promise<string>;
  /** A service credential from the mesh secret key (operator verbs such as `keys rotate`). */
  serviceCredential(): string;
}

const iso = (t: Timestamp | undefined) => (t ? new Date(timestampMs(t)).toISOString() : null);
const kinds: Record<string, TokenKind> = { master: TokenKind.MASTER, standard: TokenKind.STANDARD, acl: TokenKind.ACL };
const kindName = (k: TokenKind) => Object.entries(kinds).find(([, v]) => v === k)?.[0] ?? 'unknown';
const roles: Record<string, Role> = { owner: Role.OWNER, admin: Role.ADMIN, member: Role.MEMBER, viewer: Role.VIEWER };

function tokenJson(t: Token) {
  return {
    id: t.id,
    name: t.name,
    account_id: t.accountId,
    kind: kindName(t.kind),
    rules: t.rules.map((r) => ({ effect: r.effect === Effect.ALLOW ? 'allow' : 'deny', actions: r.actions, resources: r.resources })),
    ip_allow: t.ipAllow,
    expires_at: iso(t.expiresAt),
    ttl_seconds: Number(t.ttlSeconds),
    short_form: t.shortForm,
    created_at: iso(t.createdAt),
    revoked_at: iso(t.revokedAt),
  };
}

const accountJson = (a: Account) => ({ id: a.id, name: a.name, parent_id: a.parentId || null, depth: a.depth, suspended: a.effectivelySuspended, created_at: iso(a.createdAt) });

function str(flags: AdminArgs['flags'], name: string, required = false): string | undefined {
  const v = flags[name];
  if (typeof v === 'string' && v.length) return v;
  if (required) throw new UsageError(`--${name} is required`);
  return undefined;
}

export function parseRules(text: string): { effect: Effect; actions: string[]; resources: string[] }[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalidArgument('rules', 'must be a JSON array of {effect, actions, resources}');
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { rules?: unknown }).rules;
  if (!Array.isArray(list)) throw invalidArgument('rules', 'must be a JSON array of {effect, actions, resources}');
  return list.map((r: { effect?: string; actions?: string[]; resources?: string[] }, i) => {
    if (r.effect !== 'allow' && r.effect !== 'deny') throw invalidArgument(`rules[${i}].effect`, 'must be allow or deny');
    return { effect: r.effect === 'allow' ? Effect.ALLOW : Effect.DENY, actions: r.actions ?? [], resources: r.resources ?? [] };
  });
}

/** account / user / token / check verbs over the services' gRPC APIs. */
export async function runAdmin(args: AdminArgs): Promise<number> {
  const [noun, verb, ...rest] = args.positionals;
  if (noun === 'login') return runLogin(args, verb);
  const flagToken = args.flags.token;
  const token = noun === 'keys' ? '' : resolveCliToken(args.env, typeof flagToken === 'string' ? flagToken : undefined, args.envToken);
  const auth = { headers: { authorization: `Bearer ${token}` } };
  const tls = clientTls(args.env);
  const authz = createRpcClient(AuthzService, serviceAddress(args.env, 'authz'), { tls });
  const identity = createRpcClient(IdentityService, serviceAddress(args.env, 'identity'), { tls });
  const callerAccount = async (): Promise<string> => {
    const who = await authz.authenticate({ bearer: token });
    if (!who.allowed || !who.principal) throw new AppError('UNAUTHENTICATED', `the credential was refused: ${who.reason}`, { reason: who.reason });
    return who.principal.accountId;
  };
  try {
    switch (`${noun} ${verb ?? ''}`.trim()) {
      case 'account create': {
        const name = rest[0];
        if (!name) throw new UsageError('usage: tollgate account create NAME [--parent ID]');
        const res = await identity.createAccount({ name, parentId: str(args.flags, 'parent') ?? (await callerAccount()) }, auth);
        const a = accountJson(res.account!);
        args.out.result(a, () => `created account ${a.id} (${a.name}) at depth ${a.depth}`);
        return 0;
      }
      case 'account suspend':
      case 'account resume': {
        const id = rest[0];
        if (!id) throw new UsageError(`usage: tollgate account ${verb} ACCOUNT_ID`);
        const res = verb === 'suspend' ? await identity.suspendAccount({ accountId: id }, auth) : await identity.resumeAccount({ accountId: id }, auth);
        const a = accountJson(res.account!);
        args.out.result(a, () => `${verb === 'suspend' ? 'suspended' : 'resumed'} ${a.id} (${a.name})`);
        return 0;
      }
      case 'user add-role': {
        const userId = rest[0];
        if (!userId) throw new UsageError('usage: tollgate user add-role USER_ID --account ID --role ROLE');
        const role = roles[str(args.flags, 'role', true)!];
        if (role === undefined) throw new UsageError('--role: expected owner, admin, member or viewer');
        const res = await identity.setMembership({ userId, accountId: str(args.flags, 'account', true)!, role }, auth);
        args.out.result({ id: res.user!.id, memberships: res.user!.memberships.map((m) => ({ account_id: m.accountId, role: Object.keys(roles).find((k) => roles[k] === m.role) })) }, () => `${res.user!.username} now has ${str(args.flags, 'role')} in ${str(args.flags, 'account')}`);
        return 0;
      }
      case 'user unlock': {
        const username = rest[0];
        if (!username || rest.length > 1) throw new UsageError('usage: tollgate user unlock USERNAME [--address IP]');
        const address = str(args.flags, 'address');
        if (address !== undefined && isIP(address) === 0) throw new UsageError('--address: expected an IPv4 or IPv6 address');
        const res = await identity.unlockUser({ username, address: address ?? '' }, auth);
        args.out.result({ username, address: address ?? null, lifted: res.lifted }, () =>
          res.lifted ? `lifted ${res.lifted} lockout${res.lifted === 1 ? '' : 's'} of ${username}${address ? ` from ${address}` : ''}` : `${username} was not locked out${address ? ` from ${address}` : ''}`,
        );
        return 0;
      }
      case 'audit list': {
        const res = await identity.listAuditEvents({ accountId: str(args.flags, 'account') ?? (await callerAccount()), kind: str(args.flags, 'kind') ?? '', pageSize: 100 }, auth);
        const events = res.events.map((e) => ({
          id: e.id,
          at: iso(e.at),
          kind: e.kind,
          outcome: e.outcome,
          actor_kind: e.actorKind || null,
          actor_id: e.actorId || null,
          account_id: e.accountId || null,
          subject_id: e.subjectId || null,
          request_id: e.requestId || null,
          source: e.source || null,
          ip: e.ip || null,
          details: e.details,
        }));
        const actor = (e: (typeof events)[number]) => (e.actor_id ? `${e.actor_kind ?? '?'}:${e.actor_id}` : '-');
        args.out.result({ events }, () => events.map((e) => `${e.at}  ${e.kind.padEnd(22)} ${e.outcome.padEnd(12)} ${actor(e).padEnd(40)} ${(e.subject_id ?? '-').padEnd(36)} ${e.request_id ?? ''}`).join('\n') || '(no events)');
        return 0;
      }
      case 'keys rotate': {
        const res = await identity.rotateSigningKey({}, { headers: { authorization: `Bearer ${args.serviceCredential()}` } });
        args.out.result({ kid: res.kid, retired_kids: res.retiredKids }, () => `new signing key ${res.kid}; older keys stay in the JWKS until their tokens expire`);
        return 0;
      }
      case 'account list': {
        const root = str(args.flags, 'account') ?? (await callerAccount());
        const tree = await identity.getAccountTree({ accountId: root, includeDescendants: true }, auth);
        const accounts = [tree.account!, ...tree.descendants].map(accountJson);
        args.out.result({ accounts }, () => accounts.map((a) => `${'  '.repeat(a.depth - 1)}${a.id}  ${a.name}${a.suspended ? '  (suspended)' : ''}`).join('\n'));
        return 0;
      }
      case 'user create': {
        const username = rest[0];
        if (!username) throw new UsageError('usage: tollgate user create USERNAME --account ID --role ROLE  (password on stdin)');
        const role = roles[str(args.flags, 'role', true)!];
        if (role === undefined) throw new UsageError('--role: expected owner, admin, member or viewer');
        const password = (await args.readStdin()).replace(/\r?\n$/, '');
        const res = await identity.createUser({ username, password, accountId: str(args.flags, 'account', true)!, role }, auth);
        args.out.result({ id: res.user!.id, username: res.user!.username }, () => `created user ${res.user!.id} (${res.user!.username})`);
        return 0;
      }
      case 'token create': {
        const kind = kinds[str(args.flags, 'kind', true)!];
        if (kind === undefined) throw new UsageError('--kind: expected master, standard or acl');
        const rulesFlag = str(args.flags, 'rules');
        const rules = rulesFlag === undefined ? [] : parseRules(rulesFlag === '-' ? await args.readStdin() : readFileSync(rulesFlag, 'utf8'));
        const expires = str(args.flags, 'expires');
        const expiresMs = expires === undefined ? undefined : parseDurationMs(expires);
        if (expires !== undefined && expiresMs === undefined) throw new UsageError('--expires: expected a duration like 30d or 12h');
        const ttl = str(args.flags, 'ttl');
        const ttlMs = ttl === undefined ? 0 : parseDurationMs(ttl);
        if (ttlMs === undefined) throw new UsageError('--ttl: expected a duration like 1h');
        const res = await authz.createToken(
          {
            accountId: str(args.flags, 'account') ?? (await callerAccount()),
            name: str(args.flags, 'name') ?? '',
            kind,
            rules,
            ipAllow: (str(args.flags, 'ip') ?? '').split(',').map((s) => s.trim()).filter(Boolean),
            ...(expiresMs === undefined ? {} : { expiresAt: timestampFromMs(Date.now() + expiresMs) }),
            ttlSeconds: BigInt(Math.floor(ttlMs / 1000)),
            shortForm: args.flags['short-form'] === true,
          },
          auth,
        );
        const t = tokenJson(res.token!);
        args.out.result({ ...t, secret: res.secret }, () => `created ${t.kind} token ${t.id}\nsecret (shown once): ${res.secret}`);
        return 0;
      }
      case 'token list': {
        const res = await authz.listTokens({ accountId: str(args.flags, 'account') ?? (await callerAccount()), includeRevoked: args.flags['all'] === true, pageSize: 1_000 }, auth);
        const tokens = res.tokens.map(tokenJson);
        args.out.result({ tokens }, () => tokens.map((t) => `${t.id}  ${t.kind.padEnd(8)} ${t.name}${t.revoked_at ? '  (revoked)' : ''}`).join('\n') || '(no tokens)');
        return 0;
      }
      case 'token update': {
        const id = rest[0];
        if (!id) throw new UsageError('usage: tollgate token update TOKEN_ID [--name N] [--rules FILE|-] [--ip MASKS] [--expires 30d|never] [--ttl 1h]');
        const mask: string[] = [];
        const rulesFlag = str(args.flags, 'rules');
        const expires = str(args.flags, 'expires');
        const ttl = str(args.flags, 'ttl');
        const ip = str(args.flags, 'ip');
        const name = str(args.flags, 'name');
        if (name !== undefined) mask.push('name');
        if (rulesFlag !== undefined) mask.push('rules');
        if (ip !== undefined) mask.push('ip_allow');
        if (expires !== undefined) mask.push('expires_at');
        if (ttl !== undefined) mask.push('ttl_seconds');
        if (mask.length === 0) throw new UsageError('token update: name at least one of --name, --rules, --ip, --expires, --ttl');
        const expiresMs = expires === undefined || expires === 'never' ? undefined : parseDurationMs(expires);
        if (expires !== undefined && expires !== 'never' && expiresMs === undefined) throw new UsageError('--expires: expected a duration like 30d, or never');
        const ttlMs = ttl === undefined ? 0 : parseDurationMs(ttl);
        if (ttlMs === undefined) throw new UsageError('--ttl: expected a duration like 1h');
        const res = await authz.updateToken(
          {
            tokenId: id,
            updateMask: mask,
            name: name ?? '',
            rules: rulesFlag === undefined ? [] : parseRules(rulesFlag === '-' ? await args.readStdin() : readFileSync(rulesFlag, 'utf8')),
            ipAllow: (ip ?? '').split(',').map((x) => x.trim()).filter(Boolean),
            ...(expiresMs === undefined ? {} : { expiresAt: timestampFromMs(Date.now() + expiresMs) }),
            ttlSeconds: BigInt(Math.floor(ttlMs / 1000)),
          },
          auth,
        );
        const t = tokenJson(res.token!);
        args.out.result(t, () => `updated ${t.id} (${mask.join(', ')})`);
        return 0;
      }
      case 'token rotate': {
        const id = rest[0];
        if (!id) throw new UsageError('usage: tollgate token rotate TOKEN_ID [--grace 1h]');
        const grace = str(args.flags, 'grace');
        const graceMs = grace === undefined ? 0 : parseDurationMs(grace);
        if (graceMs === undefined) throw new UsageError('--grace: expected a duration like 1h');
        const res = await authz.rotateToken({ tokenId: id, graceSeconds: BigInt(Math.floor(graceMs / 1000)) }, auth);
        const t = tokenJson(res.token!);
        args.out.result({ ...t, secret: res.secret }, () => `rotated ${t.id}
new secret (shown once): ${res.secret}`);
        return 0;
      }
      case 'token show':
      case 'token revoke': {
        const id = rest[0];
        if (!id) throw new UsageError(`usage: tollgate token ${verb} TOKEN_ID`);
        const res = verb === 'show' ? await authz.getToken({ tokenId: id }, auth) : await authz.revokeToken({ tokenId: id }, auth);
        const t = tokenJson(res.token!);
        args.out.result(t, () => (verb === 'show' ? JSON.stringify(t, null, 2) : `revoked ${t.id}`));
        return 0;
      }
      case 'limit set':
      case 'limit show':
      case 'usage show': {
        const quota = createRpcClient(QuotaService, serviceAddress(args.env, 'quota'), { tls });
        try {
          const accountId = str(args.flags, 'account') ?? (await callerAccount());
          const limitJson = (l: EffectiveLimit) => ({
            metric: l.limit!.metric,
            kind: ['unspecified', 'rate', 'volume', 'concurrency', 'count'][l.limit!.kind],
            value: Number(l.limit!.value),
            per: ['', 'second', 'minute', 'day', 'month'][l.limit!.period] || null,
            burst: Number(l.limit!.burst) || null,
            shadow: l.limit!.shadow,
            source_account_id: l.sourceAccountId,
          });
          if (verb === 'set') {
            const [metric, valueText] = rest;
            if (!metric || valueText === undefined) throw new UsageError('usage: tollgate limit set --account ID METRIC VALUE [--per second|minute|day|month] [--burst N] [--shadow]');
            const per = str(args.flags, 'per');
            const periodOf: Record<string, Period> = { second: Period.SECOND, minute: Period.MINUTE, day: Period.DAY, month: Period.MONTH };
            if (per !== undefined && periodOf[per] === undefined) throw new UsageError('--per: expected second, minute, day or month');
            const kind = metric === 'mqtt.connections' || metric === 'mqtt.subscriptions' ? LimitKind.CONCURRENCY : ['tokens', 'subaccounts', 'users', 'mqtt.retained'].includes(metric) ? LimitKind.COUNT : per === 'day' || per === 'month' ? LimitKind.VOLUME : LimitKind.RATE;
            if (!/^-?\d+$/.test(valueText)) throw new UsageError('VALUE: expected a whole number (-1 inherits)');
            const burst = str(args.flags, 'burst');
            const res = await quota.setLimits(
              { accountId, limits: [{ metric, kind, value: BigInt(valueText), period: per ? periodOf[per]! : Period.UNSPECIFIED, burst: burst ? BigInt(burst) : 0n, shadow: args.flags['shadow'] === true }] },
              auth,
            );
            const limits = res.limits.map(limitJson);
            args.out.result({ account_id: accountId, limits }, () => `set ${metric} on ${accountId}`);
            return 0;
          }
          if (noun === 'limit') {
            const res = await quota.getLimits({ accountId }, auth);
            const limits = res.limits.map(limitJson);
            args.out.result({ account_id: accountId, limits }, () => limits.map((l) => `${l.metric.padEnd(20)} ${l.kind!.padEnd(11)} ${String(l.value).padStart(10)}${l.per ? `/${l.per}` : ''}${l.shadow ? ' (shadow)' : ''}  from ${l.source_account_id}`).join('\n') || '(no limits)');
            return 0;
          }
          const since = parseDurationMs(str(args.flags, 'since') ?? '1h');
          if (since === undefined) throw new UsageError('--since: expected a duration like 1h or 7d');
          const res = await quota.getUsage({ accountId, metric: str(args.flags, 'metric') ?? '', from: timestampFromMs(Date.now() - since), subtree: args.flags['subtree'] === true, stepSeconds: 60 }, auth);
          const series = res.series.map((s) => ({ metric: s.metric, total: Number(s.total), points: s.points.map((p) => ({ at: iso(p.at), amount: Number(p.amount) })) }));
          args.out.result({ account_id: accountId, series }, () => series.map((s) => `${s.metric.padEnd(20)} ${s.total}`).join('\n'));
          return 0;
        } finally {
          quota.close();
        }
      }
      case 'clients list':
      case 'clients kick': {
        const broker = createRpcClient(BrokerAdminService, serviceAddress(args.env, 'broker'), { tls });
        try {
          if (verb === 'list') {
            const res = await broker.listClients({ accountId: str(args.flags, 'account') ?? '' }, auth);
            const clients = res.clients.map((c) => ({ client_id: c.clientId, account_id: c.accountId, subject: c.subject, peer: c.peer, protocol_version: c.protocolVersion, transport: c.transport, connected_at: iso(c.connectedAt), subscriptions: c.subscriptions }));
            args.out.result({ clients }, () => clients.map((c) => `${c.client_id.padEnd(24)} ${c.peer.padEnd(16)} v${c.protocol_version} ${c.transport} ${c.subject}`).join('\n') || '(no clients)');
            return 0;
          }
          const clientId = rest[0];
          if (!clientId) throw new UsageError('usage: tollgate clients kick CLIENT_ID [--account ID]');
          const res = await broker.kickClient({ clientId, accountId: str(args.flags, 'account') ?? '' }, auth);
          args.out.result({ client_id: clientId, kicked: res.kicked }, () => (res.kicked ? `kicked ${clientId}` : `${clientId} is not connected`));
          return res.kicked ? 0 : 1;
        } finally {
          broker.close();
        }
      }
      case 'check': {
        const res = await authz.authorize({
          credential: { bearer: token },
          action: str(args.flags, 'action', true)!,
          resource: str(args.flags, 'resource') ?? '',
          clientId: str(args.flags, 'client-id') ?? '',
          peerIp: str(args.flags, 'ip') ?? '',
          accountId: str(args.flags, 'account') ?? '',
        });
        const d = { allowed: res.allowed, reason: res.reason, account_id: res.accountId, cache_ttl_ms: Number(res.cacheTtlMs) };
        args.out.result(d, () => `${d.allowed ? 'ALLOW' : 'DENY'} (${d.reason})`);
        return d.allowed ? 0 : 3;
      }
      default:
        throw new UsageError(`unknown command '${args.positionals.join(' ')}' (try --help)`);
    }
  } finally {
    authz.close();
    identity.close();
  }
}

/** `tollgate login USERNAME` (password on stdin): prints the session's tokens. */
async function runLogin(args: AdminArgs, username: string | undefined): Promise<number> {
  if (!username) throw new UsageError('usage: tollgate login USERNAME  (password on stdin) [--account ID] [--totp CODE]');
  const password = (await args.readStdin()).replace(/\r?\n$/, '');
  const identity = createRpcClient(IdentityService, serviceAddress(args.env, 'identity'), { tls: clientTls(args.env) });
  try {
    const res = await identity.login({ username, password, accountId: str(args.flags, 'account') ?? '', totpCode: str(args.flags, 'totp') ?? '' });
    if (!res.allowed || !res.session) {
      throw new AppError('UNAUTHENTICATED', `login refused: ${res.reason}${res.retryAfterMs ? ` (retry in ${Math.ceil(Number(res.retryAfterMs) / 1000)} s)` : ''}`, { reason: res.reason });
    }
    const s = res.session;
    const out = { user_id: s.userId, account_id: s.accountId, access_token: s.accessToken, access_expires_at: iso(s.accessExpiresAt), refresh_token: s.refreshToken, refresh_expires_at: iso(s.refreshExpiresAt) };
    args.out.result(out, () => `logged in as ${username} in ${s.accountId}\naccess token (until ${out.access_expires_at}):\n${s.accessToken}\nrefresh token:\n${s.refreshToken}`);
    return 0;
  } finally {
    identity.close();
  }
}

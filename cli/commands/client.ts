import { createRpcClient } from '#libs/rpc/index.ts';
import { AuthzService } from '#gen/tollgate/authz/v1/authz_pb.js';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { OAuthClientType, type OAuthClient } from '#gen/tollgate/identity/v1/oauth_clients_pb.js';
import { AppError } from '#libs/errors/index.ts';
import { UsageError } from '../output.ts';
import { clientTls, resolveCliToken, serviceAddress } from '../endpoints.ts';
import { readFileSync } from 'node:fs';
import { Effect } from '#gen/tollgate/authz/v1/authz_pb.js';
import type { AdminArgs } from './admin-session.ts';
import { parseRules } from './parse-rules.ts';

const types: Record<string, OAuthClientType> = { web: OAuthClientType.WEB, spa: OAuthClientType.SPA, native: OAuthClientType.NATIVE, service: OAuthClientType.SERVICE, device: OAuthClientType.DEVICE };
const typeName = (t: OAuthClientType) => Object.entries(types).find(([, v]) => v === t)?.[0] ?? 'unknown';

/** `--rules FILE|-`: the same rule JSON as `token create`, from a file or stdin. */
async function rulesOf(args: AdminArgs) {
  const flag = args.flags['rules'];
  if (typeof flag !== 'string' || flag === '') return undefined;
  return parseRules(flag === '-' ? await args.readStdin() : readFileSync(flag, 'utf8'));
}

function clientJson(c: OAuthClient) {
  return {
    id: c.id,
    client_id: c.id,
    account_id: c.accountId,
    name: c.name,
    type: typeName(c.type),
    confidential: c.confidential,
    redirect_uris: c.redirectUris,
    post_logout_redirect_uris: c.postLogoutRedirectUris,
    scopes: c.scopes,
    first_party: c.firstParty,
    acl_rules: c.aclRules.map((r) => ({ effect: r.effect === Effect.ALLOW ? 'allow' : 'deny', actions: r.actions, resources: r.resources })),
    acl_token_id: c.aclTokenId || null,
    id_token_alg: c.idTokenSignedResponseAlg,
    disabled: c.disabled,
    created_at: new Date(Number(c.createdAtMs)).toISOString(),
    updated_at: new Date(Number(c.updatedAtMs)).toISOString(),
  };
}

const list = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined);
const scopes = (v: unknown): string[] | undefined => (typeof v === 'string' ? v.split(/[\s,]+/).filter(Boolean) : undefined);
const human = (c: ReturnType<typeof clientJson>) => `${c.client_id}  ${c.type.padEnd(7)} ${c.name}${c.disabled ? '  (disabled)' : ''}\n  redirect: ${c.redirect_uris.join(' ') || '-'}\n  scopes:   ${c.scopes.join(' ')}`;

/** `tollgate client …`: OAuth clients of identity's provider (IdentityService client RPCs). */
export async function runOAuthClient(args: AdminArgs): Promise<number> {
  const [, verb, ...rest] = args.positionals;
  const token = resolveCliToken(args.env, typeof args.flags['token'] === 'string' ? args.flags['token'] : undefined, args.envToken);
  const auth = { headers: { authorization: `Bearer ${token}` } };
  const tls = clientTls(args.env);
  const identity = createRpcClient(IdentityService, serviceAddress(args.env, 'identity'), { tls });
  const accountFlag = typeof args.flags['account'] === 'string' ? args.flags['account'] : undefined;
  const callerAccount = async (): Promise<string> => {
    if (accountFlag) return accountFlag;
    const authz = createRpcClient(AuthzService, serviceAddress(args.env, 'authz'), { tls });
    try {
      const who = await authz.authenticate({ bearer: token });
      if (!who.allowed || !who.principal) throw new AppError('UNAUTHENTICATED', `the credential was refused: ${who.reason}`, { reason: who.reason });
      return who.principal.accountId;
    } finally {
      authz.close();
    }
  };
  const id = () => {
    if (!rest[0]) throw new UsageError(`usage: tollgate client ${verb} CLIENT_ID`);
    return rest[0];
  };
  try {
    switch (verb) {
      case 'create': {
        const name = rest[0];
        const type = types[String(args.flags['type'] ?? '')];
        if (!name || type === undefined) throw new UsageError('usage: tollgate client create NAME --type web|spa|native|service|device [--account ID] [--redirect-uri URI]… [--rules FILE|-] [--scope "a b"] [--first-party]');
        const res = await identity.createClient(
          { accountId: await callerAccount(), name, type, aclRules: (await rulesOf(args)) ?? [], idTokenSignedResponseAlg: typeof args.flags['id-token-alg'] === 'string' ? args.flags['id-token-alg'] : '', redirectUris: list(args.flags['redirect-uri']) ?? [], postLogoutRedirectUris: list(args.flags['post-logout-uri']) ?? [], scopes: scopes(args.flags['scope']) ?? [], firstParty: args.flags['first-party'] === true },
          auth,
        );
        const c = clientJson(res.client!);
        const secret = res.clientSecret ? { client_secret: res.clientSecret } : {};
        args.out.result({ ...c, ...secret }, () => `created ${c.type} client ${c.client_id}${res.clientSecret ? `\nclient_secret: ${res.clientSecret}\n(shown once: store it now)` : ' (public: no secret)'}`);
        return 0;
      }
      case 'list': {
        const res = await identity.listClients({ accountId: await callerAccount() }, auth);
        const clients = res.clients.map(clientJson);
        args.out.result({ clients }, () => clients.map(human).join('\n') || '(no clients)');
        return 0;
      }
      case 'show': {
        const c = clientJson((await identity.getClient({ clientId: id() }, auth)).client!);
        args.out.result(c, () => human(c));
        return 0;
      }
      case 'update': {
        const clientId = id();
        const redirects = list(args.flags['redirect-uri']);
        const postLogout = list(args.flags['post-logout-uri']);
        const scopeList = scopes(args.flags['scope']);
        const rules = await rulesOf(args);
        const res = await identity.updateClient(
          {
            clientId,
            ...(typeof args.flags['name'] === 'string' ? { name: args.flags['name'] } : {}),
            ...(args.flags['disable'] === true ? { disabled: true } : args.flags['enable'] === true ? { disabled: false } : {}),
            ...(args.flags['first-party'] === true ? { firstParty: true } : args.flags['third-party'] === true ? { firstParty: false } : {}),
            ...(redirects ? { redirectUris: { values: redirects } } : {}),
            ...(postLogout ? { postLogoutRedirectUris: { values: postLogout } } : {}),
            ...(scopeList ? { scopes: { values: scopeList } } : {}),
            ...(rules ? { aclRules: { rules } } : {}),
            ...(typeof args.flags['id-token-alg'] === 'string' ? { idTokenSignedResponseAlg: args.flags['id-token-alg'] } : {}),
          },
          auth,
        );
        const c = clientJson(res.client!);
        args.out.result(c, () => `updated ${c.client_id}\n${human(c)}`);
        return 0;
      }
      case 'rotate-secret': {
        const res = await identity.rotateClientSecret({ clientId: id() }, auth);
        const c = clientJson(res.client!);
        args.out.result({ ...c, client_secret: res.clientSecret }, () => `new secret for ${c.client_id} (the old one stops working now)\nclient_secret: ${res.clientSecret}`);
        return 0;
      }
      case 'delete': {
        const clientId = id();
        await identity.deleteClient({ clientId }, auth);
        args.out.result({ id: clientId, deleted: true }, () => `deleted ${clientId}; its grants and tokens are revoked`);
        return 0;
      }
      default:
        throw new UsageError('usage: tollgate client create|list|show|update|rotate-secret|delete …');
    }
  } finally {
    identity.close();
  }
}

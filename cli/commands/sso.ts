import { readFileSync } from 'node:fs';
import { createRpcClient } from '#libs/rpc/index.ts';
import { AuthzService } from '#gen/tollgate/authz/v1/authz_pb.js';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import type { SsoConnection } from '#gen/tollgate/identity/v1/sso_pb.js';
import { AppError } from '#libs/errors/index.ts';
import { UsageError } from '../output.ts';
import { clientTls, resolveCliToken, serviceAddress } from '../endpoints.ts';
import type { AdminArgs } from './admin-session.ts';

const json = (c: SsoConnection) => ({ id: c.id, account_id: c.accountId, kind: c.kind, name: c.name, issuer: c.issuer, client_id: c.clientId || null, saml_entry_point: c.samlEntryPoint || null, provisioning: c.provisioning, default_role: c.defaultRole, created_at: new Date(Number(c.createdAtMs)).toISOString() });

/** `tollgate sso …`: an account's upstream OpenID Connect providers (client secret read from stdin). */
export async function runSso(args: AdminArgs): Promise<number> {
  const [, verb, ...rest] = args.positionals;
  const token = resolveCliToken(args.env, typeof args.flags['token'] === 'string' ? args.flags['token'] : undefined, args.envToken);
  const auth = { headers: { authorization: `Bearer ${token}` } };
  const tls = clientTls(args.env);
  const identity = createRpcClient(IdentityService, serviceAddress(args.env, 'identity'), { tls });
  const account = async (): Promise<string> => {
    if (typeof args.flags['account'] === 'string') return args.flags['account'];
    const authz = createRpcClient(AuthzService, serviceAddress(args.env, 'authz'), { tls });
    try {
      const who = await authz.authenticate({ bearer: token });
      if (!who.allowed || !who.principal) throw new AppError('UNAUTHENTICATED', `the credential was refused: ${who.reason}`, { reason: who.reason });
      return who.principal.accountId;
    } finally {
      authz.close();
    }
  };
  try {
    switch (verb) {
      case 'create': {
        const name = rest[0];
        const str = (flag: string) => (typeof args.flags[flag] === 'string' ? (args.flags[flag] as string) : '');
        if (str('kind') === 'saml') {
          const entryPoint = str('entry-point');
          const certFile = str('idp-cert');
          if (!name || !str('issuer') || !entryPoint || !certFile) throw new UsageError('usage: tollgate sso create NAME --kind saml --issuer IDP_ENTITY_ID --entry-point URL --idp-cert FILE [--role admin|member|viewer] [--account ID]');
          const res = await identity.createSsoConnection({ accountId: await account(), kind: 'saml', name, issuer: str('issuer'), samlEntryPoint: entryPoint, samlIdpCertificate: readFileSync(certFile, 'utf8'), defaultRole: str('role'), provisioning: str('provisioning') }, auth);
          const c = { ...json(res.connection!), acs_url: res.redirectUri, sp_entity_id: res.samlSpEntityId };
          args.out.result(c, () => `created SAML connection ${c.id} (${c.name})
configure the IdP with: entity ID ${c.sp_entity_id}, ACS (HTTP-POST) ${c.acs_url}, signed assertions`);
          return 0;
        }
        const issuer = typeof args.flags['issuer'] === 'string' ? args.flags['issuer'] : '';
        const clientId = typeof args.flags['client-id'] === 'string' ? args.flags['client-id'] : '';
        if (!name || !issuer || !clientId) throw new UsageError('usage: tollgate sso create NAME --issuer URL --client-id ID [--role admin|member|viewer] [--account ID]  (client secret on stdin), or --kind saml …');
        const clientSecret = (await args.readStdin()).replace(/\r?\n$/, '');
        const res = await identity.createSsoConnection({ accountId: await account(), name, issuer, clientId, clientSecret, defaultRole: typeof args.flags['role'] === 'string' ? args.flags['role'] : '', provisioning: typeof args.flags['provisioning'] === 'string' ? args.flags['provisioning'] : '' }, auth);
        const c = { ...json(res.connection!), redirect_uri: res.redirectUri };
        args.out.result(c, () => `created SSO connection ${c.id} (${c.name})\nregister this redirect URI with ${c.issuer}: ${c.redirect_uri}`);
        return 0;
      }
      case 'list': {
        const connections = (await identity.listSsoConnections({ accountId: await account() }, auth)).connections.map(json);
        args.out.result({ connections }, () => connections.map((c) => `${c.id}  ${c.name}  ${c.issuer}  (${c.provisioning === 'jit' ? `jit: new users ${c.default_role}` : 'invited only'})`).join('\n') || '(no connections)');
        return 0;
      }
      case 'delete': {
        if (!rest[0]) throw new UsageError('usage: tollgate sso delete CONNECTION_ID');
        await identity.deleteSsoConnection({ connectionId: rest[0] }, auth);
        args.out.result({ id: rest[0], deleted: true }, () => `deleted ${rest[0]}`);
        return 0;
      }
      default:
        throw new UsageError('usage: tollgate sso create|list|delete …');
    }
  } finally {
    identity.close();
  }
}

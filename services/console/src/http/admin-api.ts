import { OpenAPIHono, z } from '@hono/zod-openapi';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { invalidArgument, unauthenticated } from '#libs/errors/index.ts';
import { problemResponse } from '#libs/http/index.ts';
import type { Logger, Telemetry } from '#libs/telemetry/index.ts';
import { Protocol, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import type { ConsolePeers } from '../console-peers.ts';
import { roleName } from './proto-json.ts';
import { accountRoutes } from './routes/account-routes.ts';
import { tokenRoutes } from './routes/token-routes.ts';
import { operationRoutes } from './routes/operation-routes.ts';
import { grantRoutes } from './routes/grant-routes.ts';
import { oauthRoutes } from './routes/oauth-routes.ts';
import { apiReferencePage } from './api-reference-page.ts';

/** Who is calling, as authz answered for their credential (header or session cookie). */
export interface Caller {
  bearer: string;
  via: 'bearer' | 'session';
  accountId: string;
  subject: string;
  kind: 'master' | 'standard' | 'acl' | 'user';
  role: 'owner' | 'admin' | 'member' | 'viewer' | null;
  /** Call options that carry the caller's own credential to a service. */
  auth: { headers: { authorization: string } };
}

export interface ApiEnv {
  Variables: { caller: Caller };
}

export type ApiApp = OpenAPIHono<ApiEnv>;

export interface AdminApiDeps {
  peers: ConsolePeers;
  telemetry: Telemetry;
  logger: Logger;
  /** The session's credential when the request carries a valid session cookie (and, if it changes state, a valid CSRF token). */
  sessionCredential(c: Context): Promise<string | undefined>;
  /** Health of each service, for the public `/services` route. */
  serviceHealth(): Promise<{ name: string; address: string | null; status: string }[]>;
}

/** `rules.0.actions` → `rules[0].actions`: the field as a caller wrote it. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${String(part)}` : String(part)), '');
}

const kinds: Partial<Record<TokenKind, Caller['kind']>> = { [TokenKind.MASTER]: 'master', [TokenKind.STANDARD]: 'standard', [TokenKind.ACL]: 'acl' };

export function peerAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? '';
  } catch {
    return '';
  }
}

/**
 * `/api/v1`: every admin operation of the services as REST/JSON, each a thin translation onto one
 * RPC made with the caller's own credential. The console decides nothing: a refused call comes
 * back as the service said it (401 / 403 / 404 / 400 naming the field), as problem+json.
 */
export function createAdminApi(deps: AdminApiDeps): ApiApp {
  const api = new OpenAPIHono<ApiEnv>({
    // Invalid input is refused naming the first field at fault, like the services do.
    defaultHook: (result) => {
      if (!result.success) {
        const issue = result.error.issues[0]!;
        const field = fieldPath(issue.path) || (result.target === 'json' ? 'body' : result.target);
        throw invalidArgument(field, issue.message);
      }
      return undefined;
    },
  });
  // A body that is not JSON at all is refused by Hono's validator before zod sees it: 400, not 500.
  api.onError((error, c) =>
    problemResponse(c, error instanceof HTTPException && (error.status === 400 || error.status === 415) ? invalidArgument('body', 'must be a JSON object (content-type: application/json)') : error, deps.logger),
  );
  api.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', description: 'a Tollgate token (master / standard) or an identity access JWT' });
  api.openAPIRegistry.registerComponent('securitySchemes', 'session', { type: 'apiKey', in: 'cookie', name: 'tollgate_session', description: 'the console session (state-changing requests also need the x-csrf-token header)' });

  // Public: the description of the API and the mesh's health (no data of any account).
  api.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'Tollgate admin API', version: '1', description: 'Every administrative operation of the Tollgate services, as REST/JSON. Each call is made with the caller\'s own credential; the services decide.' },
    servers: [{ url: '/api/v1' }],
    security: [{ bearer: [] }, { session: [] }],
  });
  api.get('/reference', (c) => c.html(apiReferencePage(api.getOpenAPI31Document({ openapi: '3.1.0', info: { title: 'Tollgate admin API', version: '1' } }) as unknown as Parameters<typeof apiReferencePage>[0])));
  api.openapi(
    {
      method: 'get',
      path: '/services',
      summary: 'Health of every service',
      tags: ['overview'],
      security: [],
      responses: { 200: { description: 'OK', content: { 'application/json': { schema: z.object({ services: z.array(z.object({ name: z.string(), address: z.string().nullable(), status: z.string() })) }) } } } },
    },
    async (c) => c.json({ services: await deps.serviceHealth() }, 200),
  );

  // Authenticate before validating: no credential, no parsing of what it sent.
  api.use('*', async (c, next) => {
    const header = c.req.header('authorization');
    let bearer: string | undefined;
    let via: Caller['via'] = 'bearer';
    if (header !== undefined) {
      bearer = header.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
      if (!bearer) throw unauthenticated('authorization: expected "Bearer <token or access JWT>"', 'CREDENTIAL_MISSING');
    } else {
      bearer = await deps.sessionCredential(c);
      via = 'session';
    }
    if (!bearer) throw unauthenticated('authorization: a Bearer credential or a console session is required', 'CREDENTIAL_MISSING');
    const res = await deps.peers.authz.authenticate({ bearer, protocol: Protocol.HTTP, peerIp: peerAddress(c) });
    if (!res.allowed || !res.principal) throw unauthenticated(`authorization: the credential was refused (${res.reason})`, res.reason || 'CREDENTIAL_INVALID');
    const p = res.principal;
    c.set('caller', {
      bearer,
      via,
      accountId: p.accountId,
      subject: p.subject,
      kind: kinds[p.kind] ?? 'user',
      role: roleName(p.role),
      auth: { headers: { authorization: `Bearer ${bearer}` } },
    });
    await next();
  });

  accountRoutes(api, deps);
  tokenRoutes(api, deps);
  grantRoutes(api, deps);
  oauthRoutes(api, deps);
  operationRoutes(api, deps);
  return api;
}

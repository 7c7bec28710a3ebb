import { create } from '@bufbuild/protobuf';
import { invalidArgument } from '#libs/errors/index.ts';
import { parseBearer } from '#libs/admin-auth/bearer-credential.ts';
import type { ServiceImpl } from '#libs/rpc/index.ts';
import { Authorization, type CheckResponse } from '#gen/envoy/service/auth/v3/external_auth_pb.js';
import type { AttributeContext_HttpRequest } from '#gen/envoy/service/auth/v3/attribute_context_pb.js';
import { HeaderValueOption_HeaderAppendAction } from '#gen/envoy/config/core/v3/base_pb.js';
import { StatusCode } from '#gen/envoy/type/v3/http_status_pb.js';
import type { AuthzCore } from '../authz-core.ts';
import type { AuthenticateOutcome } from '../core/credential.ts';
import { createAdapterRefusals, MALFORMED_REQUEST } from '../adapter-refusals.ts';

// google.rpc.Code values carried in CheckResponse.status.
const GRPC_INVALID_ARGUMENT = 3;
const GRPC_PERMISSION_DENIED = 7;
const GRPC_UNAUTHENTICATED = 16;

const MAX_CREDENTIAL = 4_096;
const MAX_PATH = 8_192;

const decoder = new TextDecoder();

/**
 * A request header by lower-case name: from `headers`, or from `header_map` when the filter sets
 * `encode_raw_headers` (values then in `raw_value`). Envoy sends lower-case names; a client's
 * casing is not trusted to be normalised by every proxy in front, so the lookup ignores case.
 */
function headerOf(http: AttributeContext_HttpRequest, name: string): string | undefined {
  const direct = http.headers[name];
  if (direct !== undefined) return direct;
  for (const [key, value] of Object.entries(http.headers)) if (key.toLowerCase() === name) return value;
  for (const h of http.headerMap?.headers ?? []) if (h.key.toLowerCase() === name) return h.value || decoder.decode(h.rawValue);
  return undefined;
}

function problem(code: number, httpStatus: StatusCode, reason: string, detail: string): CheckResponse {
  const status = httpStatus as number;
  const title = code === GRPC_UNAUTHENTICATED ? 'UNAUTHENTICATED' : code === GRPC_INVALID_ARGUMENT ? 'INVALID_ARGUMENT' : 'PERMISSION_DENIED';
  const set = (key: string, value: string) => ({ header: { key, value }, appendAction: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD });
  return create(Authorization.method.check.output, {
    status: { code, message: reason },
    httpResponse: {
      case: 'deniedResponse',
      value: {
        status: { code: httpStatus },
        headers: [set('content-type', 'application/problem+json'), ...(code === GRPC_UNAUTHENTICATED ? [set('www-authenticate', 'Bearer')] : [])],
        body: JSON.stringify({ type: `https://tollgate.dev/problems/${reason.toLowerCase().replaceAll('_', '-')}`, title, status, detail }),
      },
    },
  });
}

/**
 * Envoy `envoy.service.auth.v3.Authorization/Check`: the credential from the `authorization`
 * header (`Bearer` + a token or an identity JWT), GET/HEAD/OPTIONS → read and other methods →
 * write, the resource `api:<path without query>`, the client address from
 * `attributes.source.address`. Allowed requests reach the upstream with `x-tollgate-account` /
 * `x-tollgate-subject` (overwriting anything the client sent) and without `authorization`.
 *
 * Answers: allowed → status 0 + ok_response; no or bad credential → 16 + 401; denied → 7 + 403;
 * a request Envoy's client made unreadable (path, over-long credential) → 3 + 400; all with a
 * problem+json body, all recorded as decisions (source `envoy`). A CheckRequest without
 * `attributes.request.http` is INVALID_ARGUMENT naming the field.
 */
export function envoyAuthorizationHandlers(core: AuthzCore): ServiceImpl<typeof Authorization> {
  const refusals = createAdapterRefusals(core);

  return {
    async check(req) {
      const http = req.attributes?.request?.http;
      const address = req.attributes?.source?.address?.address;
      const peerIp = address?.case === 'socketAddress' && address.value.address ? address.value.address : undefined;
      const action = http?.method === 'GET' || http?.method === 'HEAD' || http?.method === 'OPTIONS' ? 'read' : 'write';
      const path = http?.path.split('?')[0] ?? '';
      const refused = async (field: string, detail: string) => {
        await refusals.record({ source: 'envoy', reason: MALFORMED_REQUEST, action, resource: `api:${path}`, peerIp });
        return problem(GRPC_INVALID_ARGUMENT, StatusCode.BadRequest, MALFORMED_REQUEST, `${field}: ${detail}`);
      };
      if (!http) {
        await refusals.record({ source: 'envoy', reason: MALFORMED_REQUEST, action: '', peerIp });
        throw invalidArgument('attributes.request.http', 'is required');
      }
      if (!path.startsWith('/')) return refused('attributes.request.http.path', "must start with '/'");
      if (path.length > MAX_PATH) return refused('attributes.request.http.path', `must be at most ${MAX_PATH} characters`);
      const header = headerOf(http, 'authorization') ?? '';
      if (header.length > MAX_CREDENTIAL + 7) return refused('authorization', `must be at most ${MAX_CREDENTIAL} characters`);
      const bearer = parseBearer(header) ?? '';
      const who: AuthenticateOutcome = bearer ? await core.authenticate({ bearer, username: '', password: '', peerIp }) : { allowed: false, reason: 'CREDENTIAL_MISSING', cacheTtlMs: 0 };
      let decision;
      try {
        // Through the engine even when the credential failed: every answer is a recorded decision.
        // A token goes by id, so its rules come compiled from the engine's cache.
        const credential = who.allowed && who.principal.tokenId ? { tokenId: who.principal.tokenId } : { authenticated: who, bearer };
        [decision] = await core.authorize({ credential, action, resources: [`api:${path}`], clientId: '', peerIp, accountId: undefined, source: 'envoy' });
      } catch (error) {
        if ((error as { code?: string }).code === 'INVALID_ARGUMENT') return refused('attributes.request.http.path', (error as Error).message);
        throw error;
      }
      if (!who.allowed) return problem(GRPC_UNAUTHENTICATED, StatusCode.Unauthorized, who.reason, 'a valid credential is required as authorization: Bearer');
      if (!decision?.allowed) return problem(GRPC_PERMISSION_DENIED, StatusCode.Forbidden, decision?.reason ?? 'DENIED', `${action} on ${path} is not allowed`);
      const set = (key: string, value: string) => ({ header: { key, value }, appendAction: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD });
      return {
        status: { code: 0, message: 'OK' },
        httpResponse: {
          case: 'okResponse',
          value: { headers: [set('x-tollgate-account', decision.accountId), set('x-tollgate-subject', who.principal.subject)], headersToRemove: ['authorization'] },
        },
      };
    },
  };
}

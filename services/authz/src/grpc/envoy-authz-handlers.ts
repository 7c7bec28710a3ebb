import { create } from '@bufbuild/protobuf';
import { invalidArgument } from '#libs/errors/index.ts';
import type { ServiceImpl } from '#libs/rpc/index.ts';
import { Authorization } from '#gen/envoy/service/auth/v3/external_auth_pb.js';
import { HeaderValueOption_HeaderAppendAction } from '#gen/envoy/config/core/v3/base_pb.js';
import { StatusCode } from '#gen/envoy/type/v3/http_status_pb.js';
import type { AuthzCore } from '../authz-core.ts';

const GRPC_PERMISSION_DENIED = 7;
const GRPC_UNAUTHENTICATED = 16;

function denied(code: number, http: StatusCode, reason: string) {
  const status = http === StatusCode.Unauthorized ? 401 : 403;
  return {
    status: { code, message: reason },
    httpResponse: {
      case: 'deniedResponse' as const,
      value: {
        status: { code: http },
        headers: [{ header: { key: 'content-type', value: 'application/problem+json' }, appendAction: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD }],
        body: JSON.stringify({ type: `https://tollgate.dev/problems/${reason.toLowerCase().replaceAll('_', '-')}`, title: status === 401 ? 'UNAUTHENTICATED' : 'PERMISSION_DENIED', status, detail: reason }),
      },
    },
  };
}

/**
 * Envoy `envoy.service.auth.v3.Authorization/Check`: the credential from the `authorization`
 * header (a token or an identity JWT as Bearer), GET/HEAD → read and other methods → write, the
 * resource `api:<path>`, the client address from `attributes.source`. Allowed requests reach the
 * upstream with `x-tollgate-account` / `x-tollgate-subject` (overwriting anything the client sent)
 * and without `authorization`.
 */
export function envoyAuthorizationHandlers(core: AuthzCore): ServiceImpl<typeof Authorization> {
  return {
    async check(req) {
      const http = req.attributes?.request?.http;
      if (!http) throw invalidArgument('attributes.request.http', 'is required');
      if (!http.path.startsWith('/')) throw invalidArgument('attributes.request.http.path', "must start with '/'");
      const header = http.headers.authorization ?? '';
      const bearer = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
      if (!bearer) return create(Authorization.method.check.output, denied(GRPC_UNAUTHENTICATED, StatusCode.Unauthorized, 'CREDENTIAL_MISSING'));
      const address = req.attributes?.source?.address?.address;
      const peerIp = address?.case === 'socketAddress' ? address.value.address : undefined;
      const who = await core.authenticate({ bearer, username: '', password: '', peerIp });
      if (!who.allowed) return create(Authorization.method.check.output, denied(GRPC_UNAUTHENTICATED, StatusCode.Unauthorized, who.reason));
      const action = http.method === 'GET' || http.method === 'HEAD' ? 'read' : 'write';
      const path = http.path.split('?')[0]!;
      const [decision] = await core.authorize({ credential: { authenticated: who, bearer }, action, resources: [`api:${path}`], clientId: '', peerIp, accountId: undefined, source: 'envoy' });
      if (!decision?.allowed) return create(Authorization.method.check.output, denied(GRPC_PERMISSION_DENIED, StatusCode.Forbidden, decision?.reason ?? 'DENIED'));
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

import type { DescMethod } from '@bufbuild/protobuf';
import { MethodOptions_IdempotencyLevel } from '@bufbuild/protobuf/wkt';

/**
 * RPCs a client may send again after UNAVAILABLE (the connection to one replica went away mid
 * call): reads, and writes whose repeat changes nothing more (a renewal sets the same expiry; a
 * usage batch is applied once per batch id; a slot block is one per holder). Everything else — a
 * consume, a token created, a password tried (it counts towards a lockout) — fails to the caller,
 * which decides. A method whose proto declares `idempotency_level` counts too.
 */
const idempotentMethods: ReadonlySet<string> = new Set([
  'grpc.health.v1.Health/Check',
  'tollgate.authz.v1.AuthzService/Authenticate',
  'tollgate.authz.v1.AuthzService/Authorize',
  'tollgate.authz.v1.AuthzService/AuthorizeBatch',
  'tollgate.authz.v1.AuthzService/GetToken',
  'tollgate.authz.v1.AuthzService/ListTokens',
  'tollgate.authz.v1.AuthzService/ListRecentDecisions',
  'tollgate.authz.v1.AuthzService/GetDecisionStats',
  'envoy.service.auth.v3.Authorization/Check',
  'tollgate.identity.v1.IdentityService/GetAccount',
  'tollgate.identity.v1.IdentityService/ListAccounts',
  'tollgate.identity.v1.IdentityService/GetAccountTree',
  'tollgate.identity.v1.IdentityService/GetUser',
  'tollgate.identity.v1.IdentityService/ListUsers',
  'tollgate.identity.v1.IdentityService/GetJwks',
  'tollgate.identity.v1.IdentityService/ListResourceGrants',
  'tollgate.identity.v1.IdentityService/CheckResourceAccess',
  'tollgate.identity.v1.IdentityService/ListAuditEvents',
  'tollgate.quota.v1.QuotaService/GetLimits',
  'tollgate.quota.v1.QuotaService/GetUsage',
  'tollgate.quota.v1.QuotaService/RenewSlots',
  'tollgate.quota.v1.QuotaService/LeaseSlots',
  'tollgate.quota.v1.QuotaService/ReportUsage',
  'tollgate.broker.v1.BrokerAdminService/ListClients',
  'tollgate.broker.v1.BrokerAdminService/GetStats',
]);

/** Whether a call of this method may be retried on UNAVAILABLE. */
export function isIdempotent(method: DescMethod): boolean {
  if (method.methodKind !== 'unary') return false;
  if (method.idempotency !== MethodOptions_IdempotencyLevel.IDEMPOTENCY_UNKNOWN) return true;
  return idempotentMethods.has(`${method.parent.typeName}/${method.name}`);
}

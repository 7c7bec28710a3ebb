import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { AdminPrincipal } from '#libs/admin-auth/admin-guard.ts';
import { invalidArgument } from '#libs/errors/index.ts';
import { AccountState, LoginOutcome, Role as ProtoRole } from '#gen/tollgate/identity/v1/identity_pb.js';
import type { AuditEventInput } from '../domain/audit-event.ts';
import type { Role } from '../domain/roles.ts';
import type { AccountRecord, UserRecord } from '../domain/ports.ts';

/** proto ⇄ domain for identity's messages: the one table per enum, and the shared field checks. */
export const roleToProto: Record<Role, ProtoRole> = { owner: ProtoRole.OWNER, admin: ProtoRole.ADMIN, member: ProtoRole.MEMBER, viewer: ProtoRole.VIEWER };

export function roleFromProto(role: ProtoRole, field = 'role'): Role {
  const found = (Object.entries(roleToProto) as [Role, ProtoRole][]).find(([, v]) => v === role);
  if (!found) throw invalidArgument(field, 'must be one of ROLE_OWNER, ROLE_ADMIN, ROLE_MEMBER, ROLE_VIEWER');
  return found[0];
}

export function accountToProto(a: AccountRecord, effectivelySuspended = a.state === 'suspended') {
  return {
    id: a.id,
    name: a.name,
    parentId: a.parentId ?? '',
    depth: a.depth,
    state: a.state === 'active' ? AccountState.ACTIVE : AccountState.SUSPENDED,
    effectivelySuspended,
    requireTotp: a.requireTotp,
    requireSso: a.requireSso,
    createdAt: timestampFromMs(a.createdAtMs),
  };
}

export function userToProto(u: UserRecord, totpEnabled: boolean) {
  return {
    id: u.id,
    username: u.username,
    memberships: u.memberships.map((m) => ({ accountId: m.accountId, role: roleToProto[m.role] })),
    totpEnabled,
    createdAt: timestampFromMs(u.createdAtMs),
    email: u.email ?? '',
  };
}

/** Refusals of Login / VerifyPassword (domain reasons) as proto outcomes. */
export const loginOutcomes: Record<string, LoginOutcome> = {
  INVALID_CREDENTIALS: LoginOutcome.INVALID_CREDENTIALS,
  LOCKED_OUT: LoginOutcome.LOCKED_OUT,
  TWO_FACTOR_REQUIRED: LoginOutcome.TOTP_REQUIRED,
  TWO_FACTOR_INVALID: LoginOutcome.TOTP_INVALID,
  TWO_FACTOR_ENROLLMENT_REQUIRED: LoginOutcome.TOTP_ENROLLMENT_REQUIRED,
  ACCOUNT_SUSPENDED: LoginOutcome.ACCOUNT_SUSPENDED,
  SSO_REQUIRED: LoginOutcome.SSO_REQUIRED,
};

/** A required id or name: present, at most 128 characters. */
export function required(value: string, field: string): string {
  if (!value) throw invalidArgument(field, 'is required');
  if (value.length > 128) throw invalidArgument(field, 'must be at most 128 characters');
  return value;
}

export const pageSize = (n: number): number => (n === 0 ? 100 : Math.min(n, 1_000));

const SAFE_SUBJECT = /^(?:[a-z]{2,8}_[A-Za-z0-9]{1,64}|service:[a-z0-9-]{1,32})$/;

export type ActorFields = Required<Pick<AuditEventInput, 'actorUserId' | 'actorKind' | 'actorSubject' | 'details'>>;

/** Who did it, for the audit log: the kind and subject of the user / token / service (a token by its id, never a secret). */
export function actorFields(p: AdminPrincipal): ActorFields {
  if (p.kind === 'user') return { actorUserId: p.subject, actorKind: 'user', actorSubject: p.subject, details: { actor: 'user' } };
  // A subject that is not an id we know is left out rather than risk recording something secret.
  if (!SAFE_SUBJECT.test(p.subject)) return { actorUserId: null, actorKind: null, actorSubject: null, details: { actor: p.kind } };
  return { actorUserId: null, actorKind: p.kind, actorSubject: p.subject, details: { actor: p.kind === 'service' ? p.subject : `${p.kind}:${p.subject}` } };
}

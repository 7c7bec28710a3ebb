import { invalidArgument } from '#libs/errors/index.ts';
import { actorMay, isRole, operationOfAction } from '#libs/policy/role-policy.ts';
import { checkAccess, compileRules } from '#libs/acl/acl-engine.ts';
import { aclActions, type AclAction } from '#libs/acl/acl-rule.ts';
import type { DecisionLog } from '../decision-log.ts';
import type { DecisionReason } from '../domain/decision-reason.ts';
import { resolvePeerIp, type AuthenticateOutcome, type Credential, type PeerIp } from './credential.ts';
import type { AccountPath, CachedToken, TokenCache } from './token-cache.ts';
import type { CredentialSniffer, Principal } from './credential-sniffer.ts';

type Allowed = Extract<AuthenticateOutcome, { allowed: true }>;

const NO_RESOURCE = [''];
/** The resources decided: `connect` without one is decided once, on the empty resource. */
const resourcesOf = (input: AuthorizeInput): readonly string[] => (input.resources.length ? input.resources : NO_RESOURCE);

export interface AuthorizeInput {
  credential: Credential;
  action: string;
  resources: string[];
  clientId: string;
  /** The client's address, or a function that reads it when a decision needs it (credential.ts). */
  peerIp: PeerIp;
  /** Explicit subaccount selector (a parent's master token addressing a subaccount). */
  accountId: string | undefined;
  source: string;
  /**
   * The token's IP allow-list is enforced by another call of the same session (RabbitMQ checks the
   * peer address once, on `vhost`, the only call that carries it): skip it here.
   */
  ipCheckedElsewhere?: boolean | undefined;
  /** `subscribe`: grant a filter overlapping a deny rule, for a caller that checks each delivery (libs/acl). */
  subscribeOverlap?: 'filter' | 'refuse' | undefined;
}

export interface AuthorizeDecision {
  allowed: boolean;
  reason: DecisionReason;
  cacheTtlMs: number;
  accountId: string;
}

/** One answer per resource; at once (no promise) when everything it needs is cached. */
export type Authorize = (input: AuthorizeInput) => AuthorizeDecision[] | Promise<AuthorizeDecision[]>;

/**
 * May this credential do `action` on each resource? One answer per resource, in order, each logged.
 * A credential whose token and account path are cached is decided synchronously — no promise
 * between the request and its answer; a cache miss (token, account path) is awaited.
 */
export function createAuthorize(options: { cache: TokenCache; credentials: CredentialSniffer; decisions: DecisionLog; now: () => number }): Authorize {
  const { cache, credentials, decisions, now } = options;

  function answer(input: AuthorizeInput, action: AclAction, subject: string, allowed: boolean, reason: DecisionReason, ttl: number, accountId: string): AuthorizeDecision[] {
    return resourcesOf(input).map((resource) => {
      logDecision(decisions, now, input, action, allowed, reason, resource, accountId, subject);
      return { allowed, reason, cacheTtlMs: ttl, accountId };
    });
  }

  function decide(input: AuthorizeInput, action: AclAction, { outcome, entry }: Principal): AuthorizeDecision[] | Promise<AuthorizeDecision[]> {
    if (!outcome.allowed) return answer(input, action, '', false, outcome.reason, 0, '');
    const principal = outcome.principal;
    if (input.accountId && input.accountId !== principal.accountId) {
      // A parent's master token reaches a subaccount only when the request names it.
      const named = input.accountId;
      const path = cache.freshAccountPath(named);
      if (path) return inScope(input, action, outcome, entry, named, path);
      return cache.accountPath(named).then((read) => inScope(input, action, outcome, entry, named, read));
    }
    return decideIn(input, action, outcome, entry, principal.accountId);
  }

  function inScope(input: AuthorizeInput, action: AclAction, outcome: Allowed, entry: CachedToken | undefined, named: string, path: AccountPath): AuthorizeDecision[] {
    const principal = outcome.principal;
    // Recorded in the caller's own account: the account it named learns nothing of a stranger's attempt.
    if (principal.kind !== 'master' || !path.some((a) => a.id === principal.accountId)) return answer(input, action, principal.subject, false, 'ACCOUNT_NOT_IN_SCOPE', 0, principal.accountId);
    if (path.some((a) => a.suspended)) return answer(input, action, principal.subject, false, 'ACCOUNT_SUSPENDED', 0, named);
    return decideIn(input, action, outcome, entry, named);
  }

  function decideIn(input: AuthorizeInput, action: AclAction, outcome: Allowed, entry: CachedToken | undefined, accountId: string): AuthorizeDecision[] {
    const principal = outcome.principal;
    const ttl = outcome.cacheTtlMs;
    if (principal.kind !== 'acl') {
      // Users by role, master and standard tokens by kind: the role table (libs/policy/role-policy.ts).
      const actor = principal.kind === 'user' ? { kind: 'user' as const, role: isRole(principal.role) ? principal.role : undefined } : { kind: principal.kind };
      if (actorMay(actor, operationOfAction(action))) return answer(input, action, principal.subject, true, 'ALLOWED', ttl, accountId);
      return answer(input, action, principal.subject, false, principal.kind === 'user' ? 'ROLE_NOT_ALLOWED' : 'KIND_NOT_ALLOWED', ttl, accountId);
    }
    const acl = entry?.acl ?? compileRules(outcome.rules);
    const vars = { account: accountId, token: principal.tokenId ?? '', client_id: input.clientId, username: input.credential.username ?? '' };
    return resourcesOf(input).map((resource) => {
      const decision = checkAccess(acl, input.subscribeOverlap ? { action, resource, vars, subscribeOverlap: input.subscribeOverlap } : { action, resource, vars });
      logDecision(decisions, now, input, action, decision.allowed, decision.reason, resource, accountId, principal.subject);
      return { allowed: decision.allowed, reason: decision.reason, cacheTtlMs: ttl, accountId };
    });
  }

  return function authorize(input) {
    if (!(aclActions as readonly string[]).includes(input.action)) throw invalidArgument('action', `must be one of ${aclActions.join(', ')}`);
    if (input.resources.length === 0 && input.action !== 'connect') throw invalidArgument('resource', 'is required');
    if (input.resources.length > 1_000) throw invalidArgument('resources', 'at most 1000 per call');
    const action = input.action as AclAction;
    const principal = credentials.principalOf(input.credential, input.peerIp, input.ipCheckedElsewhere ?? false);
    if (principal instanceof Promise) return principal.then((p) => decide(input, action, p));
    return decide(input, action, principal);
  };
}

/** One decision counted, and kept in the log's ring when it keeps it: the record (and the clock read) only then. */
function logDecision(decisions: DecisionLog, now: () => number, input: AuthorizeInput, action: string, allowed: boolean, reason: string, resource: string, accountId: string, subject: string): void {
  if (!decisions.countDecision(allowed, reason, input.source, accountId)) return;
  decisions.keep({ atMs: now(), allowed, reason, action, resource, accountId, subject, clientId: input.clientId, peerIp: resolvePeerIp(input.peerIp) ?? '', source: input.source });
}

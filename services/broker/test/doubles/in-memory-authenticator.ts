/**
 * TEST / DEV adapter: an Authenticator over a fixed list of users whose ACL rules are plain
 * functions. Not for production: passwords are compared in clear. The real one is the lead's
 * gRPC client to authz.
 */
import { compileRules } from '#libs/acl/acl-engine.ts';
import { CompiledTopicAuthorizer, type SubscribeOverlapMode } from '../../src/clients/compiled-topic-authorizer.ts';
import type { Authenticator, AuthenticateRequest, AuthenticateResult, TopicAuthorizer, TopicDecision } from '../../src/domain/ports.ts';

export type TopicRule = (topic: string, clientId: string) => boolean;

export interface InMemoryUser {
  /** Omit for the anonymous principal. */
  username?: string;
  password?: string;
  account: string;
  subject?: string;
  superuser?: boolean;
  canPublish?: TopicRule;
  canSubscribe?: TopicRule;
  /** The sync fast path answers `unknown`, so every check goes through the async fallback. */
  asyncOnly?: boolean;
  expiresAtMs?: number;
  cacheTtlMs?: number;
  /** acl-token rules (authz's format) compiled by authz's engine, instead of canPublish/canSubscribe. */
  rules?: unknown;
  subscribeOverlap?: SubscribeOverlapMode;
}

export interface InMemoryAuthenticatorOptions {
  users: InMemoryUser[];
  /** Principal for clients that send no username; anonymous is refused without it. */
  anonymous?: InMemoryUser;
  /** Simulates authz being down while true. */
  isUnavailable?: () => boolean;
}

const allowAll: TopicRule = () => true;

export class InMemoryAuthenticator implements Authenticator {
  readonly #users: Map<string, InMemoryUser>;
  readonly #options: InMemoryAuthenticatorOptions;
  calls = 0;

  constructor(options: InMemoryAuthenticatorOptions) {
    this.#options = options;
    this.#users = new Map(options.users.map((u) => [u.username ?? '', u]));
  }

  async authenticate(request: AuthenticateRequest): Promise<AuthenticateResult> {
    this.calls++;
    if (this.#options.isUnavailable?.()) return { allowed: false, reason: 'unavailable', unavailable: true };
    let user: InMemoryUser | undefined;
    if (request.username === undefined) {
      user = this.#options.anonymous;
      if (!user) return { allowed: false, reason: 'not_authorized' };
    } else {
      user = this.#users.get(request.username);
      if (!user) return { allowed: false, reason: 'bad_credentials' };
      if (user.password !== undefined && request.password?.toString('utf8') !== user.password) {
        return { allowed: false, reason: 'bad_credentials' };
      }
    }
    if (user.expiresAtMs !== undefined && user.expiresAtMs <= Date.now()) return { allowed: false, reason: 'expired' };
    return {
      allowed: true,
      principal: { account: user.account, subject: user.subject ?? user.username ?? 'anonymous', superuser: user.superuser ?? false },
      acl: user.rules !== undefined
        ? new CompiledTopicAuthorizer(compileRules(user.rules), { account: user.account, token: '', client_id: request.clientId, username: user.username ?? '' }, user.subscribeOverlap)
        : createFunctionAuthorizer(user, request.clientId),
      cacheTtlMs: user.cacheTtlMs ?? 60_000,
      ...(user.expiresAtMs !== undefined ? { expiresAtMs: user.expiresAtMs } : {}),
    };
  }
}

function createFunctionAuthorizer(user: InMemoryUser, clientId: string): TopicAuthorizer {
  const pub = user.canPublish ?? allowAll;
  const sub = user.canSubscribe ?? allowAll;
  const decide = (ok: boolean): TopicDecision => (ok ? 'allow' : 'deny');
  return {
    checkPublish: (topic) => (user.asyncOnly ? 'unknown' : decide(pub(topic, clientId))),
    checkSubscribe: (filter) => (user.asyncOnly ? 'unknown' : decide(sub(filter, clientId))),
    authorizePublish: async (topic) => pub(topic, clientId),
    authorizeSubscribe: async (filters) => filters.map((f) => sub(f, clientId)),
  };
}

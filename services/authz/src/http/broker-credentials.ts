import { isWellFormedTokenSecret } from '#libs/crypto/token-secret.ts';
import type { AuthenticateOutcome, AuthzCore, Credential } from '../authz-core.ts';

/**
 * Foreign brokers check a login once (username + password) and later ask about the same username
 * alone (RabbitMQ's vhost/resource/topic, EMQX and go-auth ACL checks). A token used as the
 * username is its own credential every time; a username+password login is remembered for
 * `rememberMs` after it succeeded, so later checks can be answered for that user.
 */
export function createBrokerCredentials(core: AuthzCore, options: { rememberMs?: number; nowMs?: () => number } = {}) {
  const rememberMs = options.rememberMs ?? 3_600_000;
  const now = options.nowMs ?? Date.now;
  const logins = new Map<string, { outcome: AuthenticateOutcome; untilMs: number }>();

  return {
    /** The `user` / authn check. */
    async login(username: string, password: string, peerIp: string | undefined): Promise<AuthenticateOutcome> {
      const outcome = await core.authenticate({ username, password, bearer: '', peerIp });
      if (outcome.allowed && !isWellFormedTokenSecret(username)) {
        if (logins.size > 100_000) logins.clear();
        logins.set(username, { outcome, untilMs: now() + rememberMs });
      }
      return outcome;
    },
    /** The credential to decide later checks with, from the username alone; undefined when unknown. */
    credentialOf(username: string): Credential | undefined {
      if (isWellFormedTokenSecret(username)) return { username };
      const remembered = logins.get(username);
      if (!remembered || remembered.untilMs <= now()) return undefined;
      return { authenticated: remembered.outcome, username };
    },
  };
}

export type BrokerCredentials = ReturnType<typeof createBrokerCredentials>;

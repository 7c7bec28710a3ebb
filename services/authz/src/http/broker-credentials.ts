import { boundedCache } from '#libs/cache/bounded-cache.ts';
import { isWellFormedTokenSecret } from '#libs/crypto/token-secret.ts';
import { looksLikeJwt } from '../clients/jwks-cache.ts';
import type { AuthzCore } from '../authz-core.ts';
import type { AuthenticateOutcome, Credential } from '../core/credential.ts';

/**
 * Foreign brokers check a login once (username + password) and later ask about the same username
 * alone (RabbitMQ's vhost/resource/topic, EMQX and go-auth ACL checks). A token used as the
 * username is its own credential every time; a username+password login is remembered for
 * `rememberMs` after it succeeded, so later checks can be answered for that user.
 *
 * When the password carries the credential (a token or an identity JWT) the username is whatever
 * the client chose, so it cannot name the login alone: another client could log in with the same
 * username and its own token and have its checks answered with this one's rules. Such logins are
 * remembered per (username, client id) when the broker sends a client id — an MQTT broker lets only
 * one session hold a client id — and looked up the same way.
 */
export function createBrokerCredentials(core: AuthzCore, options: { rememberMs?: number; nowMs?: () => number } = {}) {
  const rememberMs = options.rememberMs ?? 3_600_000;
  const now = options.nowMs ?? Date.now;
  // At most 100k remembered logins, least recently used first out; each expires after rememberMs.
  const logins = boundedCache<string, { outcome: AuthenticateOutcome; untilMs: number }>(100_000);
  const perClient = (username: string, clientId: string) => `${username}\u0000${clientId}`;

  return {
    /** The `user` / authn check. */
    async login(username: string, password: string, peerIp: string | undefined, clientId?: string, options: { ipCheckedElsewhere?: boolean } = {}): Promise<AuthenticateOutcome> {
      const outcome = await core.authenticate({ username, password, bearer: '', peerIp, ipCheckedElsewhere: options.ipCheckedElsewhere });
      if (outcome.allowed && username !== '' && !isWellFormedTokenSecret(username)) {
        const credentialInPassword = isWellFormedTokenSecret(password) || looksLikeJwt(password);
        logins.set(credentialInPassword && clientId ? perClient(username, clientId) : username, { outcome, untilMs: now() + rememberMs });
      }
      return outcome;
    },
    /** The credential to decide later checks with, from the username (and client id); undefined when unknown. */
    credentialOf(username: string, clientId?: string): Credential | undefined {
      if (isWellFormedTokenSecret(username)) return { username };
      const remembered = (clientId ? logins.get(perClient(username, clientId)) : undefined) ?? logins.get(username);
      if (!remembered || remembered.untilMs <= now()) return undefined;
      return { authenticated: remembered.outcome, username };
    },
  };
}

export type BrokerCredentials = ReturnType<typeof createBrokerCredentials>;

import { isUnavailable } from '#libs/errors/index.ts';
import type { AuthzCore } from './authz-core.ts';
import type { Credential } from './core/credential.ts';

/** The request could not be read: not JSON / form, a required field missing or out of range. */
export const MALFORMED_REQUEST = 'MALFORMED_REQUEST';
/** The body is over the adapters' 16 KiB limit. */
export const REQUEST_TOO_LARGE = 'REQUEST_TOO_LARGE';
/** A username that is not a token and has no remembered login: nothing to decide with. */
export const PRINCIPAL_UNKNOWN = 'PRINCIPAL_UNKNOWN';
/**
 * A shared-topic-space broker (EMQX, Mosquitto) asked about a topic outside the namespaces the
 * credential may address: not `<account id>/…` (a wildcard, `$` or no account level), or another
 * account's id for a principal that is not a master token (TOLLGATE_SHARED_BROKER_NAMESPACE).
 */
export const NAMESPACE_MISMATCH = 'NAMESPACE_MISMATCH';

export interface AdapterRefusal {
  /** emqx, go-auth, envoy (the decision log's `source`). */
  source: string;
  reason: string;
  action?: string | undefined;
  resource?: string | undefined;
  clientId?: string | undefined;
  peerIp?: string | undefined;
  /** When the caller is known: the refusal shows in that account's recent decisions. */
  credential?: Credential | undefined;
}

/** The reason recorded when answering failed: bad input the engine refused, else the failure's kind. */
export function reasonOfError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (code === 'INVALID_ARGUMENT') return MALFORMED_REQUEST;
  if (isUnavailable(error)) return 'UNAVAILABLE';
  return 'INTERNAL';
}

// What a refusal keeps of client-supplied strings: enough to recognise them, bounded in memory.
const clip = (value: string | undefined, max = 256) => (value ?? '').slice(0, max);

/**
 * Adapter answers that never reach the engine (bad input, unknown callers, failed logins) are
 * decisions all the same: counted in `tollgate.authz.decisions{result,reason,source}` and kept in the
 * recent-decisions ring, under the caller's account when the username names a known principal.
 */
export function createAdapterRefusals(core: AuthzCore, nowMs: () => number = () => core.clock.nowMs()) {
  async function accountOf(credential: Credential | undefined, peerIp: string | undefined): Promise<{ accountId: string; subject: string }> {
    if (!credential) return { accountId: '', subject: '' };
    try {
      const outcome = credential.authenticated ?? (await core.authenticate({ username: credential.username ?? '', password: credential.password ?? '', bearer: credential.bearer ?? '', peerIp }));
      return outcome.allowed ? { accountId: outcome.principal.accountId, subject: outcome.principal.subject } : { accountId: '', subject: '' };
    } catch {
      return { accountId: '', subject: '' };
    }
  }

  return {
    /** Records the refusal; never throws (an adapter answers whatever happens here). */
    async record(refusal: AdapterRefusal): Promise<void> {
      const { accountId, subject } = await accountOf(refusal.credential, refusal.peerIp);
      core.decisions.record({
        atMs: nowMs(),
        allowed: false,
        reason: refusal.reason,
        action: clip(refusal.action, 32),
        resource: clip(refusal.resource),
        accountId,
        subject,
        clientId: clip(refusal.clientId),
        peerIp: clip(refusal.peerIp, 64),
        source: refusal.source,
      });
    },
  };
}

export type AdapterRefusals = ReturnType<typeof createAdapterRefusals>;

/**
 * Tenancy of MQTT topics. Every account has its own topic namespace: a client sees and names
 * topics relative to its account, and the ACL engine (acl-engine.ts) checks those client-visible
 * topics only. The broker mounts them:
 *
 * - in memory it keeps one subscription tree and one retained store per account (the simplest
 *   isolation: a filter is only ever matched against its own account's topics), and
 * - wherever a flat name is needed (fan-out subjects between broker edges, retained-store keys,
 *   usage records) it uses `mountTopic(accountId, topic)` = `<accountId>/<topic>` and matches with
 *   `mountedTopicMatches`, which unmounts first so [MQTT-4.7.2-1] still applies to the client part.
 *
 * The account id comes from the authenticated principal, never from the client. An account id is
 * one level (no `/`, `+`, `#`, U+0000, not starting with `$`), so `<A>/…` and `<B>/…` never collide
 * and no filter, whatever its wildcards or literal account ids, can reach another account.
 */
import { invalidArgument } from '#libs/errors/index.ts';
import { topicMatches } from '#libs/topics/topic-filter.ts';

export function checkAccountLevel(accountId: string): string | null {
  if (accountId.length === 0) return 'must not be empty';
  if (accountId.startsWith('$')) return "must not start with '$'";
  if (/[/+#\u0000]/.test(accountId)) return "must not contain '/', '+', '#' or U+0000";
  return null;
}

function assertAccount(accountId: string): void {
  const problem = checkAccountLevel(accountId);
  if (problem !== null) throw invalidArgument('account_id', problem);
}

/** Broker-internal flat name of a client-visible topic (or filter) of an account. */
export function mountTopic(accountId: string, topic: string): string {
  assertAccount(accountId);
  return `${accountId}/${topic}`;
}

/** The client-visible topic when `mounted` belongs to `accountId`, else null. */
export function unmountTopic(accountId: string, mounted: string): string | null {
  assertAccount(accountId);
  const prefix = `${accountId}/`;
  return mounted.startsWith(prefix) && mounted.length > prefix.length ? mounted.slice(prefix.length) : null;
}

/** Does a client filter of `accountId` match a mounted topic? Never across accounts. */
export function mountedTopicMatches(accountId: string, filter: string, mounted: string): boolean {
  const topic = unmountTopic(accountId, mounted);
  return topic !== null && topicMatches(filter, topic);
}

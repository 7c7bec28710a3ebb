import { isId } from '#libs/crypto/ids.ts';
import { checkTopicFilter, checkTopicName, parseSharedFilter } from '#libs/topics/topic-filter.ts';
import type { AuthzCore } from '../authz-core.ts';
import type { Credential } from '../core/credential.ts';

/**
 * The topic a broker's publish or subscribe check is decided on: a valid topic name for publish
 * ([MQTT-3.3.2-2] no wildcards), a valid filter for subscribe with a `$share/{group}/` prefix taken
 * off (the group is not part of what is read). Undefined when the broker sent something malformed.
 */
export function adapterTopic(action: 'publish' | 'subscribe', topic: string): string | undefined {
  if (action === 'publish') return checkTopicName(topic) === null ? topic : undefined;
  if (checkTopicFilter(topic) !== null) return undefined;
  return parseSharedFilter(topic)?.filter ?? topic;
}

/**
 * How accounts share the one topic space of EMQX and Mosquitto (TOLLGATE_SHARED_BROKER_NAMESPACE).
 * Tollgate's own broker edge mounts every account's topics under its own namespace; these brokers
 * cannot, so the account is named in the topic itself:
 *
 * - `account-prefix` (the default): every topic and filter is `<account id>/<topic>`, and `<topic>`
 *   is what the engine decides, in that account. So no filter reaches past its first level into
 *   another account, whatever the rules say.
 * - `none`: topics are decided as they are, in the principal's own account. Every account shares the
 *   broker's topic space: for single-tenant deployments only.
 */
export const sharedBrokerNamespaces = ['account-prefix', 'none'] as const;
export type SharedBrokerNamespace = (typeof sharedBrokerNamespaces)[number];

/**
 * `<account id>/<topic>` → its parts; undefined when the first level is not an account id (a
 * wildcard, empty, anything else), when there is nothing after it, or when either part starts with
 * `$`. `$` topics are the broker's own (`$SYS/…`, EMQX's `$queue/…`), and inside an account a level
 * starting with `$` would be matched by the broker's wildcards (`<A>/#` matches `<A>/$x`) though
 * never by the engine's ([MQTT-4.7.2-1] applies to the first level only): refusing it keeps the
 * broker's matching and the engine's the same.
 */
export function splitAccountTopic(topic: string): { accountId: string; topic: string } | undefined {
  const slash = topic.indexOf('/');
  if (slash < 0) return undefined;
  const accountId = topic.slice(0, slash);
  const rest = topic.slice(slash + 1);
  if (!isId(accountId, 'acc') || rest === '' || rest.startsWith('$')) return undefined;
  return { accountId, topic: rest };
}

/** What the engine is asked for a broker topic: the resource, and the account it belongs to (the account selector). */
export interface ScopedTopic {
  resource: string;
  /** Undefined: the principal's own account. */
  accountId: string | undefined;
}

/**
 * Places the topics of EMQX and go-auth checks (after `adapterTopic`) in an account, per the
 * namespace mode. In `account-prefix` mode the account level must be the principal's own account,
 * or, for a master token, an account the engine's selector lets it reach (a subaccount: the engine
 * decides, as for gRPC `Authorize` and RabbitMQ vhosts). Undefined means NAMESPACE_MISMATCH.
 */
export function createTopicNamespace(core: AuthzCore, namespace: SharedBrokerNamespace) {
  return {
    namespace,
    async scope(credential: Credential, topic: string, peerIp: string | undefined): Promise<ScopedTopic | undefined> {
      if (namespace === 'none') return { resource: `mqtt:${topic}`, accountId: undefined };
      const split = splitAccountTopic(topic);
      if (!split) return undefined;
      const outcome = credential.authenticated ?? (await core.authenticate({ username: credential.username ?? '', password: credential.password ?? '', bearer: credential.bearer ?? '', peerIp }));
      // A credential that does not authenticate is refused by the engine with its own reason.
      // Only master tokens select other accounts: anyone else naming one is refused here, under its
      // own account, without the other account hearing of it.
      if (outcome.allowed && outcome.principal.accountId !== split.accountId && outcome.principal.kind !== 'master') return undefined;
      return { resource: `mqtt:${split.topic}`, accountId: split.accountId };
    },
  };
}

export type TopicNamespace = ReturnType<typeof createTopicNamespace>;

/**
 * What the broker core tells its cluster (the port; `NatsCluster` is the adapter). Every hook is
 * synchronous and cheap: the cluster does its I/O behind it. A broker without a cluster (the
 * default, `TOLLGATE_NATS_URL` unset) has none and behaves as a single edge.
 */
import type { Principal, TopicAuthorizer } from '../domain/ports.ts';
import type { Message, Session } from '../session.ts';

export interface BrokerCluster {
  /**
   * A message accepted from a local client (or a local will) after local routing: forward it to
   * the other edges. Answers whether it left this edge (a remote subscriber may get it).
   */
  onLocalPublish(account: string, message: Message, clientId: string): boolean;
  /** A local subscription on `levelsFilter` (the inner filter of `$share/group/f`) was added; `existed`: it replaced one. */
  onSubscribe(account: string, levelsFilter: string, existed: boolean, group: string | undefined): void;
  /** A local subscription on `levelsFilter` (of `group`, when shared) went. */
  onUnsubscribe(account: string, levelsFilter: string, group: string | undefined): void;
  /**
   * True while shared groups are served cluster-wide (one member of each group in the whole
   * cluster gets a message, picked through NATS queue groups): local routing then leaves them out.
   * False while NATS is away: each edge serves its own members then.
   */
  sharesGroups(): boolean;
  /** The local retained store is about to store (or, with an empty payload, delete) `message`. */
  onRetain(account: string, message: Message): void;
  /**
   * Before a SUBSCRIBE is handled: interest in its filters is declared on every edge's NATS server
   * and confirmed (one round trip), so that once the SUBACK is out, a message published on any edge
   * reaches the new subscription. Answers the release, called when the SUBSCRIBE has been handled
   * (the granted subscriptions hold their own interest by then).
   */
  holdInterest(account: string, filters: readonly string[]): Promise<() => void>;
  /** A client connected here: the same client id elsewhere in the cluster is taken over [MQTT-3.1.4-3]. */
  onClientConnected(account: string, clientId: string, connectedAtMs: number): void;
  /**
   * A CONNECT with Clean Start 0 for a session this edge does not hold: if another edge holds it,
   * it moves here (subscriptions, queued and in-flight messages) before the CONNACK. Resolves
   * undefined when no edge had it (or NATS is away).
   */
  takeSession(principal: Principal, clientId: string, acl: TopicAuthorizer): Promise<Session | undefined>;
  /**
   * A session changed (subscriptions, queued messages, its connection or will): the cluster keeps
   * what must outlive this edge (persistent sessions, wills) in JetStream, batched.
   */
  onSessionChanged(session: Session): void;
  /** A session of this edge ended (expired, cleaned, taken over). */
  onSessionEnded(account: string, clientId: string): void;
}

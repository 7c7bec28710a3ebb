/**
 * The broker's state and delivery path, independent of transports: sessions, one subscription
 * trie and one retained store per account (the account mount), routing, queues, housekeeping.
 */
import { topicMatches } from '#libs/topics/topic-filter.ts';
import type { AuthenticateRequest, AuthenticateResult, BrokerMetrics, Clock } from './domain/ports.ts';
import { TopicTree, type Subscription } from '#libs/topics/topic-tree.ts';
import { RC } from './domain/reason-codes.ts';
import { CredentialThrottle } from './domain/credential-throttle.ts';
import type { ResolvedBrokerOptions } from './broker-options.ts';
import type { Connection } from './connection.ts';
import { AccountTally, emptyAccountStats, type AccountStats } from './domain/account-tally.ts';
import { FrameParser } from './frame-parser.ts';
import { Session, type Delivery, type Message, type RetainedCursor } from './session.ts';
import { CloseDeadlines } from './core/close-deadlines.ts';
import { CredentialCache } from './core/credential-cache.ts';
import { ownPayload } from './core/own-payload.ts';
import { PendingConnects } from './core/pending-connects.ts';
import { PublishWriter } from './core/publish-writer.ts';
import { RetainedStore } from './core/retained-store.ts';
import { sweepConnections, sweepSessions } from './core/session-sweep.ts';
import { WriteBatcher } from './core/write-batcher.ts';

/**
 * Retained-store entries one pump examines per event-loop turn for new subscriptions. topicMatches
 * costs ~0.1–0.3 µs, so a turn spends well under a millisecond here however large the store.
 */
const RETAINED_SCAN_BUDGET = 2_048;
import type { BrokerCluster } from './cluster/broker-cluster.ts';

interface Target {
  qos: 0 | 1 | 2;
  retain: boolean;
  subscriptionIds: number[] | undefined;
}

export class BrokerCore {
  /** The mqtt-packet parser this broker's connections share (frame-parser.ts). */
  readonly frameParser = new FrameParser();
  readonly options: ResolvedBrokerOptions;
  readonly clock: Clock;
  readonly metrics: BrokerMetrics;
  /** The other edges (cluster/); undefined: a single edge. */
  cluster: BrokerCluster | undefined;
  readonly sessions = new Map<string, Session>();
  readonly connections = new Set<Connection>();
  /** Connections ended by the broker, destroyed if the peer does not finish closing within a second. */
  readonly closeDeadlines = new CloseDeadlines(1_000);
  /** Bad-credential counters per address and username; undefined when turned off. */
  readonly credentialThrottle: CredentialThrottle | undefined;
  readonly #trees = new Map<string, TopicTree<Session>>();
  readonly #retained = new RetainedStore((account) => this.retainedCap(account));
  /** Undefined when the broker does not cache credentials (the authenticator has its own cache). */
  readonly #credentials: CredentialCache | undefined;
  /** Per-account traffic on this edge; one entry per account that ever had a session here. */
  readonly #tallies = new Map<string, AccountTally>();
  readonly #pending: PendingConnects;
  readonly #writes = new WriteBatcher();
  readonly #publish: PublishWriter;
  // Per-route scratch, reused so matching allocates no closures per message.
  readonly #targets = new Map<Session, Target>();
  #routeMessage: Message | undefined;
  #routeOrigin: Session | undefined;

  constructor(options: ResolvedBrokerOptions, clock: Clock, metrics: BrokerMetrics) {
    this.options = options;
    this.clock = clock;
    this.metrics = metrics;
    this.credentialThrottle =
      options.credentialThrottle === false ? undefined : new CredentialThrottle({ policy: options.credentialThrottle, nowMs: () => clock.nowMs(), onEpisode: options.onCredentialThrottle });
    this.#credentials = options.cacheCredentials ? new CredentialCache(options.authenticator, clock) : undefined;
    this.#pending = new PendingConnects(options.maxPendingConnectsPerIp);
    this.#publish = new PublishWriter(clock, metrics);
  }

  // ---- authentication (cached) --------------------------------------------------------------

  /** CONNECT → Authenticator, through the credential cache when it is on (core/credential-cache.ts). */
  authenticate(request: AuthenticateRequest): AuthenticateResult | Promise<AuthenticateResult> {
    if (this.#credentials === undefined) return this.options.authenticator.authenticate(request);
    return this.#credentials.authenticate(request);
  }

  // ---- per-account statistics ----------------------------------------------------------------

  /** The account's traffic counters on this edge (created on its first session). */
  tallyOf(account: string): AccountTally {
    let tally = this.#tallies.get(account);
    if (tally === undefined) {
      tally = new AccountTally();
      this.#tallies.set(account, tally);
    }
    return tally;
  }

  /** This edge's figures summed over `accounts` (an account and its subaccounts, as the caller resolved them). */
  accountStats(accounts: ReadonlySet<string>): AccountStats {
    const out = emptyAccountStats();
    for (const account of accounts) {
      const t = this.#tallies.get(account);
      if (t === undefined) continue;
      out.messagesIn += t.messagesIn;
      out.bytesIn += t.bytesIn;
      out.messagesOut += t.messagesOut;
      out.bytesOut += t.bytesOut;
      out.denied += t.denied;
      out.quotaRejected += t.quotaRejected;
    }
    for (const session of this.sessions.values()) {
      if (!accounts.has(session.account)) continue;
      out.sessions++;
      out.subscriptions += session.subscriptions.size;
      if (session.connection?.connected) out.connections++;
    }
    return out;
  }

  /** Drops every cached credential decision (e.g. on an invalidation event). */
  dropAuthCache(): void {
    this.#credentials?.clear();
  }

  // ---- subscriptions ----------------------------------------------------------------------

  tree(account: string): TopicTree<Session> {
    let tree = this.#trees.get(account);
    if (!tree) {
      tree = new TopicTree<Session>();
      this.#trees.set(account, tree);
    }
    return tree;
  }

  /** Adds `sub` to the session and the trie; answers whether it replaced an existing one. */
  subscribe(session: Session, levelsFilter: string, sub: Subscription<Session>): boolean {
    session.setSubscription(sub);
    const existed = this.tree(session.account).add(levelsFilter, sub);
    this.cluster?.onSubscribe(session.account, levelsFilter, existed, sub.group); // cluster: declare interest
    this.cluster?.onSessionChanged(session); // cluster: kept in JetStream
    return existed;
  }

  unsubscribe(session: Session, filter: string): boolean {
    const sub = session.subscriptions.get(filter);
    if (!sub) return false;
    session.deleteSubscription(filter);
    if (session.retainedCursors) {
      session.retainedCursors = session.retainedCursors.filter((c) => c.sub !== sub);
      if (session.retainedCursors.length === 0) session.retainedCursors = undefined;
    }
    const levels = sub.group === undefined ? filter : filter.slice(filter.indexOf('/', 7) + 1);
    const tree = this.#trees.get(session.account);
    tree?.remove(levels, session, sub.group);
    this.cluster?.onUnsubscribe(session.account, levels, sub.group); // cluster: drop interest
    this.cluster?.onSessionChanged(session); // cluster: kept in JetStream
    if (tree && tree.size === 0) this.#trees.delete(session.account);
    return true;
  }

  // ---- retained ---------------------------------------------------------------------------

  /**
   * [MQTT-3.3.1-5] store; [MQTT-3.3.1-6/7] an empty payload deletes. Answers false when the
   * account already holds its retained cap of other topics (`retainedCap`): the caller refuses
   * the PUBLISH.
   */
  retain(account: string, message: Message): boolean {
    if (message.payload.length === 0) {
      this.#retained.delete(account, message.topic);
      this.cluster?.onRetain(account, message); // cluster: the retained store is cluster-wide
      return true;
    }
    if (!this.#retained.put(account, message)) {
      this.metrics.count('retained_refused');
      return false;
    }
    this.cluster?.onRetain(account, message); // cluster: the retained store is cluster-wide
    return true;
  }

  /** Would a retained PUBLISH to `topic` be refused for the account's cap? (Checked before routing.) */
  isRetainedFull(account: string, topic: string): boolean {
    return this.#retained.isFull(account, topic);
  }

  /**
   * Retained topics the account may hold on this edge: the edge's `maxRetainedPerAccount`, or the
   * account's `mqtt.retained` quota when that is lower (known once `retainedLimits.load` ran; the
   * PUBLISH handler waits for it). Only adding a topic is refused: replacing or deleting one that
   * is stored always works, so an account over a lowered limit can shrink but never grow.
   */
  retainedCap(account: string): number {
    const cap = this.options.maxRetainedPerAccount;
    const limit = this.options.retainedLimits?.limitFor(account);
    return limit === undefined || limit === null || limit >= cap ? cap : limit;
  }

  /** Retained messages matching `filter`, expired ones removed (admin and tests; delivery uses cursors). */
  retainedMatching(account: string, filter: string): Iterable<Message> {
    return this.#retained.matching(account, filter, this.clock.nowMs());
  }

  /**
   * Owes the new subscription `sub` the retained messages matching `levels` [MQTT-3.3.1-9]. They
   * are drawn by `pump` as the client's in-flight window (QoS > 0) and socket (QoS 0) allow, at
   * most RETAINED_SCAN_BUDGET store entries per event-loop turn: a SUBSCRIBE never holds the loop
   * for the whole store, and nothing is dropped because a queue is full.
   */
  sendRetained(session: Session, levels: string, sub: Subscription<Session>): void {
    const store = this.#retained.of(session.account);
    if (!store) return;
    const wildcard = levels.includes('+') || levels.includes('#');
    const cursor: RetainedCursor = { sub, levels, iterator: undefined, untilSeq: this.#retained.seq, pending: undefined, liveRetained: undefined };
    if (wildcard) cursor.iterator = store.values();
    else {
      const one = store.get(levels);
      if (one === undefined) return;
      cursor.pending = one;
    }
    (session.retainedCursors ??= []).push(cursor);
  }

  #drawRetained(session: Session, conn: Connection): void {
    const cursors = session.retainedCursors!;
    const store = this.#retained.of(session.account);
    const now = this.clock.nowMs();
    let budget = RETAINED_SCAN_BUDGET;
    while (cursors.length > 0) {
      const c = cursors[0]!;
      let m = c.pending;
      c.pending = undefined;
      if (m === undefined) {
        if (budget === 0) break;
        budget--;
        const next = c.iterator?.next();
        if (next === undefined || next.done) {
          cursors.shift();
          continue;
        }
        m = next.value;
        if (!topicMatches(c.levels, m.topic)) continue;
      }
      // Replaced or deleted since, or retained after the SUBSCRIBE, or a newer value routed live
      // already (cluster: before the mirror replaced it here): not owed.
      if (store?.get(m.topic) !== m || m.retainedSeq! > c.untilSeq || c.liveRetained?.has(m.topic) === true) continue;
      if (m.expiresAtMs !== undefined && m.expiresAtMs <= now) continue;
      if (c.sub.filtered === true && !mayReceiveThrough(c.sub, m.topic)) continue;
      const qos = (m.qos < c.sub.qos ? m.qos : c.sub.qos) as 0 | 1 | 2;
      if (qos > 0 && session.inflight.size >= conn.sendWindow) {
        // Resumed by the next PUBACK/PUBCOMP (it pumps).
        c.pending = m;
        return;
      }
      if (conn.isBacklogged()) {
        c.pending = m;
        // Resumed when the socket drains: on 'drain' when the stream asked for it, else (the backlog
        // is under the stream's own high-water mark, or not flushed yet) a moment later.
        this.#pumpLater(session, conn.stream.writableNeedDrain ? 'drain' : 2);
        return;
      }
      // [MQTT-3.3.1-8] retained messages sent on subscribe carry RETAIN=1.
      const d: Delivery = { message: m, qos, retain: true, subscriptionIds: c.sub.subscriptionId !== undefined ? [c.sub.subscriptionId] : undefined };
      if (qos === 0) this.#publish.write(conn, d, 0, false);
      else this.#sendInflight(session, conn, d);
      if (!c.iterator) cursors.shift();
    }
    if (cursors.length === 0) {
      session.retainedCursors = undefined;
      return;
    }
    // Out of scan budget with room to send: continue on a later turn.
    this.#pumpLater(session, 0);
  }

  /**
   * One pending continuation of the retained cursors per connection: next turn, after `ms`, or on
   * drain. Keyed by connection: a drain of a connection taken over never fires, and must not block the new one.
   */
  #pumpLater(session: Session, when: number | 'drain'): void {
    const conn = session.connection!;
    if (session.retainedPumpFor === conn) return;
    session.retainedPumpFor = conn;
    const run = (): void => {
      if (session.retainedPumpFor === conn) session.retainedPumpFor = undefined;
      this.pump(session);
    };
    if (when === 'drain') conn.stream.once('drain', run);
    else if (when === 0) setImmediate(run);
    else setTimeout(run, when).unref?.();
  }

  // ---- routing ----------------------------------------------------------------------------

  /**
   * Fans `message` out to the account's subscribers. Overlapping subscriptions of one session
   * collapse into one delivery at the highest granted QoS, with every subscription identifier
   * [MQTT-3.3.5-1]; each shared group delivers to one member, round-robin [MQTT-4.8.2].
   * Answers how many sessions it reached.
   */
  route(account: string, message: Message, origin: Session | undefined): number {
    const tree = this.#trees.get(account);
    if (!tree) return 0;
    this.#routeMessage = message;
    this.#routeOrigin = origin;
    const targets = this.#targets;
    tree.match(message.topic, this.#onSub, this.#onShared);
    this.#routeMessage = undefined;
    this.#routeOrigin = undefined;
    if (targets.size === 0) return 0;
    const count = targets.size;
    const cache = count > 1 ? new Map<string, Buffer>() : undefined;
    for (const [session, t] of targets) {
      this.deliver(session, { message, qos: t.qos, retain: t.retain, subscriptionIds: t.subscriptionIds }, cache);
    }
    targets.clear();
    return count;
  }

  readonly #onSub = (sub: Subscription<Session>): void => {
    const message = this.#routeMessage!;
    // A subscriber still being sent the retained set: this topic's stored value is now the older one.
    if (message.retain && sub.owner.retainedCursors !== undefined) markLiveRetained(sub, message.topic);
    // [MQTT-3.8.3-3] No Local: not back to the publishing client.
    if (sub.noLocal && sub.owner === this.#routeOrigin) return;
    // Only subscriptions granted overlapping a deny rule pay for this check.
    if (sub.filtered === true && !mayReceiveThrough(sub, message.topic)) return;
    this.#addTarget(sub, message);
  };

  readonly #onShared = (members: Subscription<Session>[], group: { next: number }): void => {
    if (this.cluster?.sharesGroups()) return; // cluster: the group's member is picked cluster-wide (cluster/shared-delivery.ts)
    const n = members.length;
    if (n === 0) return;
    // Round-robin, preferring members that are online.
    for (let i = 0; i < n; i++) {
      const idx = (group.next + i) % n;
      const sub = members[idx]!;
      if (sub.filtered === true && !mayReceiveThrough(sub, this.#routeMessage!.topic)) continue;
      if (sub.owner.connection?.connected || i === n - 1) {
        group.next = (idx + 1) % n;
        this.#addTarget(sub, this.#routeMessage!);
        return;
      }
    }
  };

  #addTarget(sub: Subscription<Session>, message: Message): void {
    const qos = (message.qos < sub.qos ? message.qos : sub.qos) as 0 | 1 | 2;
    // [MQTT-3.3.1-12/13] Retain As Published keeps the flag; otherwise forwarded with 0.
    const retain = sub.retainAsPublished && message.retain;
    const existing = this.#targets.get(sub.owner);
    if (!existing) {
      this.#targets.set(sub.owner, { qos, retain, subscriptionIds: sub.subscriptionId !== undefined ? [sub.subscriptionId] : undefined });
      return;
    }
    if (qos > existing.qos) existing.qos = qos;
    if (retain) existing.retain = true;
    if (sub.subscriptionId !== undefined) (existing.subscriptionIds ??= []).push(sub.subscriptionId);
  }

  /** Sends now, or queues (bounded), or drops and counts. */
  deliver(session: Session, delivery: Delivery, cache?: Map<string, Buffer>): void {
    const conn = session.connection;
    const message = delivery.message;
    if (message.expiresAtMs !== undefined && message.expiresAtMs <= this.clock.nowMs()) {
      this.metrics.count('dropped_expired');
      return;
    }
    if (!conn || !conn.connected) {
      // Offline: keep QoS>0 for a persistent session; QoS 0 is not stored.
      if (delivery.qos > 0 && session.expiryIntervalSeconds > 0) this.#enqueue(session, delivery);
      return;
    }
    if (delivery.qos === 0) {
      // Slow consumer: QoS 0 is the first thing dropped.
      if (conn.isBacklogged()) {
        this.metrics.count('dropped_qos0_slow_consumer');
        return;
      }
      this.#publish.write(conn, delivery, 0, false, cache);
      return;
    }
    if (session.queue.length === 0 && session.inflight.size < conn.sendWindow && !conn.isBacklogged()) {
      this.#sendInflight(session, conn, delivery);
    } else {
      this.#enqueue(session, delivery);
    }
  }

  #enqueue(session: Session, delivery: Delivery): void {
    if (session.queue.length >= this.options.maxQueuedMessages) {
      this.metrics.count('dropped_queue_full');
      return;
    }
    ownPayload(delivery.message);
    session.enqueue(delivery);
    this.cluster?.onSessionChanged(session); // cluster: kept in JetStream
  }

  #sendInflight(session: Session, conn: Connection, delivery: Delivery): void {
    ownPayload(delivery.message);
    const packetId = session.allocatePacketId();
    if (this.#publish.write(conn, delivery, packetId, false)) {
      session.setInflight({ ...delivery, packetId, state: 'publish' });
    }
  }

  /** Moves queued messages into the in-flight window as it frees up. */
  pump(session: Session): void {
    const conn = session.connection;
    if (!conn || !conn.connected) return;
    const queue = session.queue;
    let i = 0;
    const now = this.clock.nowMs();
    while (i < queue.length && session.inflight.size < conn.sendWindow && !conn.isBacklogged()) {
      const d = queue[i++]!;
      if (d.message.expiresAtMs !== undefined && d.message.expiresAtMs <= now) {
        this.metrics.count('dropped_expired');
        continue;
      }
      if (d.qos === 0) this.#publish.write(conn, d, 0, false);
      else this.#sendInflight(session, conn, d);
    }
    if (i > 0) session.dequeue(i);
    if (session.retainedCursors !== undefined && i === queue.length) this.#drawRetained(session, conn);
  }

  /** Resends in-flight messages after a session resumes [MQTT-4.4.0-1]: PUBLISH with DUP, or PUBREL. */
  resendInflight(session: Session, conn: Connection): void {
    for (const f of session.inflight.values()) {
      if (f.state === 'pubrel') conn.writeAck('pubrel', f.packetId);
      else if (!this.#publish.write(conn, f, f.packetId, true)) session.deleteInflight(f.packetId);
    }
  }

  // ---- write batching (core/write-batcher.ts) ----------------------------------------------

  markDirty(conn: Connection): void {
    this.#writes.markDirty(conn);
  }

  // ---- session lifecycle ------------------------------------------------------------------

  /** Ends a session: its subscriptions go, a pending will is sent now (at session end). */
  endSession(session: Session): void {
    if (session.subscriptions.size !== 0) for (const filter of [...session.subscriptions.keys()]) this.unsubscribe(session, filter);
    if (this.sessions.get(session.key) === session) {
      this.sessions.delete(session.key);
      this.cluster?.onSessionEnded(session.account, session.clientId); // cluster: no longer movable from here
    }
    session.clearQueue();
    session.clearInflight();
    session.retainedCursors = undefined;
    if (session.will && session.willAtMs !== undefined) this.publishWill(session);
    session.will = undefined;
    session.willAtMs = undefined;
  }

  /** A topic this edge refused, to the decision log (cold path: denials only). */
  reportDenial(session: Session, action: 'publish' | 'subscribe', topic: string): void {
    const report = this.options.onTopicDenied;
    if (!report) return;
    const reason = session.acl.denyReason?.(action, topic) ?? 'NOT_ALLOWED';
    report({ action, topic, account: session.account, subject: session.principal.subject, clientId: session.clientId, reason });
  }

  /** Publishes the session's will (authorized like any publish, from the session's ACL). */
  publishWill(session: Session): void {
    const will = session.will;
    session.will = undefined;
    session.willAtMs = undefined;
    if (!will) return;
    const message = will.message;
    // [3.1.3.2.4] the will's Message Expiry Interval is its lifetime from publication: queued and
    // retained copies expire like any message, and subscribers get the remaining lifetime.
    if (will.expirySeconds !== undefined) message.expiresAtMs = this.clock.nowMs() + will.expirySeconds * 1000;
    const decision = session.principal.superuser ? 'allow' : session.acl.checkPublish(message.topic);
    const send = (allowed: boolean): void => {
      if (!allowed) {
        this.metrics.count('publish_denied');
        session.tally.denied++;
        this.reportDenial(session, 'publish', message.topic);
        return;
      }
      if (message.retain && !this.retain(session.account, message)) return;
      this.route(session.account, message, undefined);
      this.cluster?.onLocalPublish(session.account, message, ''); // cluster: to the other edges
    };
    if (decision === 'unknown') {
      session.acl.authorizePublish(message.topic).then(send, () => {
        this.metrics.count('authz_unavailable');
      });
    } else send(decision === 'allow');
  }

  // ---- unauthenticated connections ---------------------------------------------------------

  /**
   * Takes a pending-CONNECT place for `peerIp`, or answers false when the address already holds
   * `maxPendingConnectsPerIp` connections that have not been answered a CONNACK: what one address
   * can make us hold before authenticating is bounded, whatever it sends (or does not).
   */
  admitPending(peerIp: string): boolean {
    return this.#pending.admit(peerIp);
  }

  /** Gives the place back: once when the connection is answered CONNACK 0 or closes before. */
  settlePending(conn: Connection): void {
    this.#pending.settle(conn.peerIp);
  }

  onConnectionClosing(conn: Connection): void {
    if (!this.connections.delete(conn)) return;
    this.metrics.count('connections_closed');
    if (!conn.connected) this.settlePending(conn);
    const session = conn.session;
    if (!session || session.connection !== conn) return;
    session.connection = undefined;
    this.options.quota.releaseConnection(session.account, session.clientId);
    if (conn.cleanDisconnect) {
      session.will = undefined;
    } else if (session.will) {
      // [MQTT-3.1.3-9] Will Delay: published later unless the session resumes first.
      session.willAtMs = this.clock.nowMs() + session.will.delaySeconds * 1000;
    }
    if (session.expiryIntervalSeconds === 0) {
      this.endSession(session);
      return;
    }
    session.expiresAtMs = this.clock.nowMs() + session.expiryIntervalSeconds * 1000;
    this.cluster?.onSessionChanged(session); // cluster: kept in JetStream
    if (session.willAtMs !== undefined && session.willAtMs <= this.clock.nowMs()) this.publishWill(session);
  }

  onHandlerError(conn: Connection, _err: unknown): void {
    // A bug or a failed port call must cost one connection, never the process.
    this.metrics.count('connection_errors');
    conn.disconnect(RC.unspecified);
  }

  /** Housekeeping (core/session-sweep.ts): connect timeout, keep-alive, credential expiry, will delay, session expiry. */
  sweep(): void {
    const now = this.clock.nowMs();
    sweepConnections(this.connections, now, this.options.connectTimeoutMs);
    sweepSessions(this.sessions.values(), now, this);
    this.#credentials?.sweep(now);
  }
}

/** A filtered subscription delivers `topic` only if its owner's ACL has no deny rule for it. */
export function mayReceiveThrough(sub: Subscription<Session>, topic: string): boolean {
  const acl = sub.owner.acl;
  return acl.mayReceive !== undefined && acl.mayReceive(topic);
}

/** Records on `sub`'s retained cursor, if it has one, that a retained value of `topic` went out live. */
function markLiveRetained(sub: Subscription<Session>, topic: string): void {
  for (const c of sub.owner.retainedCursors!) if (c.sub === sub) (c.liveRetained ??= new Set()).add(topic);
}

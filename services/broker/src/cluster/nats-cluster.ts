/**
 * Broker edges as one MQTT cluster over NATS (ARCHITECTURE §2, "How the mesh runs").
 *
 * - Routing by interest: each edge subscribes on NATS to the subjects of its clients' filters
 *   (one NATS subscription per distinct filter and account, refcounted) and publishes an accepted
 *   message on its topic's subject when another edge has interest; NATS delivers only there. The
 *   receiving edge routes the message through its own trie (`BrokerCore.route`), so QoS
 *   downgrade, Retain As Published, subscription identifiers, the `$` rule and overlapping
 *   subscriptions behave exactly as for a local publish. A message reaching an edge through
 *   several of its NATS subscriptions is routed once (per-origin sequence numbers; NATS keeps a
 *   publisher's order on every subscription of a connection).
 * - Shared subscriptions: for each `$share/group/filter` with members here, the edge joins a NATS
 *   queue group named after (account, group, filter) on the filter's subjects, through a second
 *   connection (the first one does not get its own messages back, and a queue group must be able to
 *   pick the publishing edge). NATS picks one edge per message, that edge one of its members: one
 *   member in the whole cluster gets each message [MQTT-4.8.2].
 * - Retained messages live in a JetStream KV bucket (one key per account and topic, history 1);
 *   every edge mirrors the bucket into its local retained store through a watch, so new
 *   subscribers are answered from memory as before.
 * - Client ids are cluster-wide: a CONNECT is announced; the edge holding the same client id
 *   disconnects it with 0x8E and drops its copy of the session.
 * - Persistent sessions move: each is reachable on its own subject while an edge holds it; a
 *   CONNECT with Clean Start 0 elsewhere asks for it and installs the snapshot (session-handover.ts).
 *   A gracefully stopping edge parks its sessions in a KV bucket for whichever edge is asked next.
 * - Sessions outlive a crashed edge: every session that must (persistent, or with a will) is written
 *   to the sessions bucket as it changes (batched, compare-and-set on this edge's last revision).
 *   Edges register in `<cluster>_edges` and check each other on a liveness subject; one edge claims a
 *   dead edge (compare-and-set), adopts its sessions (compare-and-set each) and publishes their wills
 *   once. An edge whose write fails the compare-and-set lost the session to another edge: fenced.
 * - A message no other edge has interest in stays here: edges announce their interest (acknowledged
 *   before the SUBACK), exchange full state on (re)connect, and each keeps a view (interest-view.ts).
 * - Admin (clients, kick, stats) is a scatter-gather request to every edge.
 * - NATS unreachable: local clients are served as before (nothing is buffered for later), the edge
 *   reports `degraded`, and the client library reconnects and re-subscribes by itself; the edge is
 *   connected again once NATS confirmed its subscriptions, the retained watch is reopened and
 *   retained writes made meanwhile are written then.
 */
import { sumAccountStats, type AccountStats } from '../domain/account-tally.ts';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect, credsAuthenticator, errors as natsErrors, type Msg, type NatsConnection, type Subscription as NatsSubscription } from '@nats-io/transport-node';
import { Kvm, KvWatchInclude, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/nats-core';
import { AppError } from '#libs/errors/index.ts';
import type { Logger } from '#libs/telemetry/index.ts';
import { checkTopicFilter, parseSharedFilter } from '#libs/topics/topic-filter.ts';
import type { BrokerCore } from '../broker-core.ts';
import { RC } from '../domain/reason-codes.ts';
import type { Message, Session } from '../session.ts';
import type { BrokerCluster } from './broker-cluster.ts';
import { decodeClusterMessage, encodeClusterMessage } from './cluster-message.ts';
import { deliverLocalShared, deliverShared } from './shared-delivery.ts';
import { adoptedAcl, fromWire, installSession, mergeMoved, snapshotSession, toWire, type SessionSnapshot, type StoredSession } from './session-handover.ts';
import type { Principal, TopicAuthorizer } from '../domain/ports.ts';
import { InterestView } from './interest-view.ts';
import { RetainedOrder } from './retained-order.ts';
import { encodeLevel, filterToTokenPatterns, tokensToTopic, topicToTokens } from './subject-codec.ts';

export interface NatsClusterOptions {
  /** NATS server URL(s), comma separated. */
  url: string;
  /** Subject prefix and KV bucket prefix: edges with the same name form one cluster. */
  cluster: string;
  /** This edge's name (logs, admin answers). */
  edgeId: string;
  logger: Logger;
  /** How long an admin request waits for other edges' answers. Default 500 ms. */
  adminTimeoutMs?: number;
  /** `start` waits at most this for NATS and the retained store before the edge serves anyway. Default 5 s. */
  startTimeoutMs?: number;
  /** A changed session is written to JetStream this long after its first change (batching). Default 100 ms. */
  persistDelayMs?: number;
  /** How often an edge checks that the other edges are alive. Default 1 s; an edge is dead after three missed checks. */
  livenessIntervalMs?: number;
  /** A NATS credentials file (user JWT and NKey seed), read at start. */
  credsFile?: string;
  /** CA bundle (PEM) to verify the NATS servers' certificates; set, the connection must use TLS. */
  tlsCaFile?: string;
  /** Client certificate and key (PEM) for NATS servers that verify clients (mutual TLS). */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** Replicas of the JetStream KV buckets (retained, sessions, edges): 3 on a three-node NATS cluster. Default 1. */
  kvReplicas?: number;
}

/** One edge's answers for the cluster-wide admin calls. */
export interface EdgeAdmin {
  clients(account: string): EdgeClient[];
  kick(clientId: string, reasonCode: number, account: string): number;
  stats(): Record<string, number>;
  /** This edge's figures for the sessions and traffic of `accounts`. */
  accountStats(accounts: readonly string[]): AccountStats;
}

export interface EdgeClient {
  clientId: string;
  account: string;
  subject: string;
  protocol: string;
  transport: string;
  peerIp: string;
  connectedAtMs: number;
  subscriptions: number;
  edge: string;
}

export type ClusterCounter = 'forwarded' | 'received' | 'received_shared' | 'duplicates_dropped' | 'undecodable' | 'topic_too_long' | 'too_large' | 'not_connected' | 'retained_write_failed' | 'taken_over' | 'session_moved_in' | 'session_moved_out' | 'session_parked' | 'session_unparked' | 'callback_failed' | 'session_written' | 'session_write_failed' | 'session_fenced' | 'session_adopted' | 'edge_declared_dead' | 'no_remote_interest';

/**
 * NATS's default max_control_line is 4 KiB and a longer subject closes the connection; topics
 * whose subject would not fit stay on their edge (counted as `topic_too_long`).
 */
const MAX_SUBJECT_BYTES = 3_000;

/** Retained entries carry their expiry relative to this instant, i.e. as a deadline on the edges' clock. */
const RETAINED_EPOCH_MS = 0;

/** A session handed over is ended here if the new edge has not taken the rest of it by then. */
const MOVE_RELEASE_TIMEOUT_MS = 5_000;

/** Retained writes in flight at once (a burst of retained messages is pipelined, not sent one round trip at a time). */
const RETAINED_WRITE_WINDOW = 64;

/** At most this many sessions are written per batch: a burst of changes is spread, not stacked. */
const MAX_PERSIST_BATCH = 256;

/** JetStream's "wrong last sequence": the key changed since this edge wrote it (another edge has it). */
function isWrongLastSequence(error: unknown): boolean {
  const e = error as { api_error?: { err_code?: number }; code?: unknown; message?: unknown };
  return e?.api_error?.err_code === 10071 || (typeof e?.message === 'string' && e.message.includes('wrong last sequence'));
}

interface Interest {
  count: number;
  patterns: string[];
  subs: NatsSubscription[];
  /** Settles once the other edges acknowledged this interest (or it timed out). */
  acked?: Promise<void>;
}

/** Interest announcements wait at most this for the other edges' acknowledgements. */
const INTEREST_ACK_TIMEOUT_MS = 1_000;

/** NATS's instant "nobody subscribes to that subject" (thrown as is, or as a RequestError's cause). */
function isNoResponders(error: unknown): boolean {
  return error instanceof natsErrors.NoRespondersError || (error instanceof natsErrors.RequestError && error.isNoResponders());
}

/** A subscription of a connection that is closing or closed is gone already. */
function unsubscribeQuietly(sub: NatsSubscription): void {
  try {
    sub.unsubscribe();
  } catch {
    // closed with its connection
  }
}

/** An answer that cannot be sent (connection closing) is the asker's timeout, never a crash here. */
function respondQuietly(msg: { respond(data: string): boolean }, data: string): void {
  try {
    msg.respond(data);
  } catch {
    // the asker times out and answers without this edge
  }
}

export class NatsCluster implements BrokerCluster {
  readonly edgeId: string;
  readonly counters = new Map<ClusterCounter, number>();
  readonly #options: NatsClusterOptions;
  readonly #prefix: string;
  readonly #origin: string;
  readonly #interest = new Map<string, Interest>();
  readonly #sharedInterest = new Map<string, Interest & { queue: string; account: string; levels: string; group: string }>();
  readonly #lastSeq = new Map<string, number>();
  readonly #subjects = new Map<string, string>();
  /** Retained writes not yet issued to the bucket, per key (its newest value; a deletion is a frame with an empty payload). */
  readonly #pendingRetained = new Map<string, Uint8Array>();
  /** Retained writes in flight, by key (issued by the one drain that runs at a time). */
  readonly #retainedInFlight = new Map<string, Promise<void>>();
  /** The watch against this edge's own writes: an older echo never undoes a newer local write. */
  readonly #retainedOrder = new RetainedOrder<KvWatchEntry>();
  /** Which cluster frame carried a message here or from here (`<origin>#<seq>`): a moving session drops copies it got twice. */
  readonly #frameIds = new WeakMap<Message, string>();
  readonly #frameIdOf = (m: Message): string | undefined => this.#frameIds.get(m);
  /** Sessions this edge handed over but still routes into until the new edge releases them (or the timer ends them). */
  readonly #moving = new Map<string, NodeJS.Timeout>();
  /** Sessions being taken in from another edge: frame ids are recorded only while a move is on. */
  #movingIn = 0;
  #retainedWriter: Promise<void> | undefined;
  #core: BrokerCore | undefined;
  #admin: EdgeAdmin | undefined;
  #nc: NatsConnection | undefined;
  /** Queue subscriptions of shared groups (echo on: it publishes nothing itself). */
  #qnc: NatsConnection | undefined;
  #qConnected = false;
  /** One NATS subscription per persistent session held here: NATS interest is the session directory. */
  readonly #sessionSubs = new Map<string, NatsSubscription>();
  #kv: KV | undefined;
  #sessionsKv: KV | undefined;
  #watch: QueuedIterator<KvWatchEntry> | undefined;
  #seq = 0;
  /** Disconnects seen on either connection: a link is up only if none came while it was confirmed. */
  #disconnects = 0;
  #connected = false;
  #stopped = false;
  #applyingRemote = false;
  #ready: Promise<void> | undefined;
  /** This edge's key in `<cluster>_edges` and its liveness subject's last token. */
  readonly #edgeKey: string;
  #edgesKv: KV | undefined;
  /** The other registered edges (keys of `<cluster>_edges`), followed by a watch: no listing per check. */
  readonly #edges = new Set<string>();
  #edgesWatch: QueuedIterator<KvWatchEntry> | undefined;
  #livenessTimer: NodeJS.Timeout | undefined;
  #checkingEdges = false;
  /** Other edges that missed liveness checks in a row. */
  readonly #misses = new Map<string, number>();
  /** When this edge's link was last confirmed: after a NATS outage the others need time to re-subscribe too. */
  #linkedAtMs = 0;
  /** Sessions changed since last written (their keys). */
  readonly #dirty = new Set<string>();
  /** The KV revision this edge last wrote per session: writes are compare-and-set on it. */
  readonly #revisions = new Map<string, number>();
  #persistTimer: NodeJS.Timeout | undefined;
  #persisting: Promise<void> | undefined;
  /** What the other edges subscribe to (and this edge's shared groups, which NATS may pick this edge for). */
  readonly #view = new InterestView();
  /** The view is complete (every edge's full state received since the last connect): skipping is safe. */
  #viewReady = false;
  /** Registered edges other than this one, as last listed: how many acknowledgements to wait for. */
  #otherEdges = 0;

  constructor(options: NatsClusterOptions) {
    if (!/^[A-Za-z0-9_-]+$/.test(options.cluster)) throw new AppError('INVALID_ARGUMENT', 'cluster: letters, digits, _ and - only', { field: 'cluster' });
    this.#options = options;
    this.edgeId = options.edgeId;
    this.#prefix = `${options.cluster}.msg.`;
    this.#origin = `${options.edgeId}/${randomBytes(4).toString('hex')}`;
    this.#edgeKey = encodeLevel(this.#origin);
  }

  /** Binds the broker core whose routing, sessions and retained store this cluster extends. */
  attach(core: BrokerCore): this {
    this.#core = core;
    return this;
  }

  /** This edge's answers to cluster-wide admin requests. */
  serveAdmin(admin: EdgeAdmin): void {
    this.#admin = admin;
  }

  /** The broker core this cluster extends (after `attach`). */
  get core(): BrokerCore | undefined {
    return this.#core;
  }

  /** True while NATS is reachable. */
  get connected(): boolean {
    return this.#connected;
  }

  /** Retained writes made here and not yet acknowledged by the bucket (pending or in flight). */
  get retainedWritesOutstanding(): number {
    let n = this.#retainedInFlight.size;
    for (const key of this.#pendingRetained.keys()) if (!this.#retainedInFlight.has(key)) n++;
    return n;
  }

  /** Configured but cut off from NATS: local clients are served, other edges are not reached. */
  get degraded(): boolean {
    return !this.#connected;
  }

  /**
   * Connects (in the background when NATS is not there: the edge starts degraded and joins when it
   * can), declares interest, loads the retained store. Waits at most `startTimeoutMs`.
   */
  async start(): Promise<void> {
    const o = this.#options;
    // Read once: a missing or unreadable credentials file fails the start with the path, never the secret.
    const creds = o.credsFile === undefined ? undefined : await readFile(o.credsFile).catch((error: unknown) => {
      throw new AppError('INVALID_ARGUMENT', `TOLLGATE_NATS_CREDS: cannot read ${o.credsFile} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { field: 'TOLLGATE_NATS_CREDS' });
    });
    const tls = o.tlsCaFile || o.tlsCertFile ? { ...(o.tlsCaFile ? { caFile: o.tlsCaFile } : {}), ...(o.tlsCertFile ? { certFile: o.tlsCertFile } : {}), ...(o.tlsKeyFile ? { keyFile: o.tlsKeyFile } : {}) } : undefined;
    const options = (name: string, noEcho: boolean) => ({
      ...(creds ? { authenticator: credsAuthenticator(creds) } : {}),
      ...(tls ? { tls } : {}),
      servers: this.#options.url.split(',').map((s) => s.trim()),
      name,
      noEcho,
      waitOnFirstConnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 2_000,
      maxPingOut: 2,
    });
    this.#ready ??= Promise.all([
      // Our own messages were routed locally already; admin requests answer themselves locally.
      connect(options(`tollgate-broker-${this.edgeId}`, true)).then((nc) => this.#onConnected(nc)),
      connect(options(`tollgate-broker-${this.edgeId}-shared`, false)).then((qnc) => this.#onQueueConnected(qnc)),
    ]).then(() => {});
    const timeoutMs = this.#options.startTimeoutMs ?? 5_000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#ready.catch((error: unknown) => this.#options.logger.warn({ err: error }, 'cluster: NATS connection failed')),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.#options.logger.warn({ url: this.#options.url }, 'cluster: NATS not reachable yet; serving local clients (degraded)');
          resolve();
        }, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /**
   * Leaves the cluster. Call after the broker closed its connections: this edge's persistent
   * sessions are parked in JetStream first, for whichever edge their clients reconnect to.
   */
  async stop(): Promise<void> {
    clearInterval(this.#livenessTimer);
    clearTimeout(this.#persistTimer);
    this.#persistTimer = undefined;
    for (const timer of this.#moving.values()) clearTimeout(timer);
    if (!this.#stopped && this.#connected) {
      await this.#persisting;
      await this.#persist(Number.POSITIVE_INFINITY);
      await this.#parkSessions();
      // Leaving, not dying: nobody must adopt this edge's (parked) sessions, nor publish for its interest.
      await this.#edgesKv?.delete(this.#edgeKey).catch(() => {});
      this.#publishQuietly(`${this.#options.cluster}.interest.gone`, JSON.stringify({ e: this.#edgeKey }));
    }
    this.#stopped = true;
    this.#watch?.stop();
    this.#edgesWatch?.stop();
    const nc = this.#nc;
    const qnc = this.#qnc;
    this.#nc = undefined;
    this.#qnc = undefined;
    this.#connected = false;
    this.#qConnected = false;
    for (const c of [nc, qnc]) if (c && !c.isClosed()) await c.drain().catch(() => c.close());
  }

  sharesGroups(): boolean {
    return this.#connected && this.#qConnected;
  }

  // ---- hooks (BrokerCluster) ----------------------------------------------------------------

  onLocalPublish(account: string, message: Message, clientId: string): boolean {
    const nc = this.#nc;
    // NATS away: the message stays here (not buffered for later: local shared groups had it already).
    if (!nc || !this.#connected) {
      this.#count('not_connected');
      return false;
    }
    const subject = this.#subjectOf(account, message.topic);
    if (subject.length > MAX_SUBJECT_BYTES) {
      this.#count('topic_too_long');
      return this.#stayLocal(account, message);
    }
    // No other edge wants it (nor a shared group NATS could pick another edge for): it stays here.
    if (this.#viewReady && !this.#view.matches(subject)) {
      this.#count('no_remote_interest');
      return false;
    }
    const seq = ++this.#seq;
    const frame = encodeClusterMessage({ origin: this.#origin, seq, account, clientId, message }, this.#core!.clock.nowMs());
    if (frame.length > nc.info!.max_payload) {
      // Over the server's max_payload (1 MiB by default, like our Maximum Packet Size): local only.
      this.#count('too_large');
      return this.#stayLocal(account, message);
    }
    try {
      nc.publish(subject, frame);
      if (this.#moving.size > 0 || this.#movingIn > 0) this.#frameIds.set(message, `${this.#origin}#${seq}`);
    } catch {
      // Draining or closed: the message stays on this edge.
      this.#count('not_connected');
      return this.#stayLocal(account, message);
    }
    this.#count('forwarded');
    return true;
  }

  /**
   * The subject of a topic, from a small cache: devices publish to the same topics again and again,
   * and escaping is a fifth of the forwarding cost on a flood (profiled). Cleared when full.
   */
  #subjectOf(account: string, topic: string): string {
    const key = `${account}\u0000${topic}`;
    let subject = this.#subjects.get(key);
    if (subject === undefined) {
      subject = `${this.#prefix}${encodeLevel(account)}.${topicToTokens(topic)}`;
      if (this.#subjects.size >= 10_000) this.#subjects.clear();
      this.#subjects.set(key, subject);
    }
    return subject;
  }

  /**
   * A message that cannot cross after all: local routing left shared groups to NATS (`sharesGroups`
   * was true, synchronously before this), so this edge's own groups get it now.
   */
  #stayLocal(account: string, message: Message): false {
    if (this.sharesGroups()) deliverLocalShared(this.#core!, account, message);
    return false;
  }

  onSubscribe(account: string, levelsFilter: string, existed: boolean, group: string | undefined): void {
    if (existed) return;
    this.#addInterest(account, levelsFilter, group);
  }

  #addInterest(account: string, levelsFilter: string, group: string | undefined): Interest {
    const key = group === undefined ? `${account}\u0000${levelsFilter}` : `${account}\u0000${levelsFilter}\u0000${group}`;
    const entry = group === undefined ? this.#interest.get(key) : this.#sharedInterest.get(key);
    if (entry) {
      entry.count++;
      return entry;
    }
    const base = `${this.#prefix}${encodeLevel(account)}`;
    let patterns = filterToTokenPatterns(levelsFilter).map((p) => `${base}.${p}`);
    // A subject over NATS's control line limit would cost the edge its connection: such a filter is local only.
    if (patterns[0]!.length > MAX_SUBJECT_BYTES) {
      this.#count('topic_too_long');
      patterns = [];
    }
    if (group === undefined) {
      const created: Interest = { count: 1, patterns, subs: [] };
      this.#interest.set(key, created);
      if (this.#nc) this.#declare(this.#nc, created);
      created.acked = this.#announce(patterns);
      return created;
    }
    // Queue names are tokens: a digest of what identifies the shared subscription cluster-wide.
    const queue = `share-${createHash('sha256').update(key).digest('base64url').slice(0, 32)}`;
    const created = { count: 1, patterns, subs: [] as NatsSubscription[], queue, account, levels: levelsFilter, group, acked: undefined as Promise<void> | undefined };
    this.#sharedInterest.set(key, created);
    if (this.#qnc) this.#declareShared(this.#qnc, created);
    // NATS may pick this edge's or another's members: a message matching the group always goes out.
    this.#view.add(this.#edgeKey, patterns);
    created.acked = this.#announce(patterns);
    return created;
  }

  /**
   * Tells the other edges about new interest and waits (bounded) until each registered edge
   * acknowledged it: from then on they publish what matches it.
   */
  async #announce(patterns: string[]): Promise<void> {
    const nc = this.#nc;
    // Not waiting for `connected`: a subscription made while the link is being confirmed must be announced too.
    if (patterns.length === 0 || !nc || nc.isClosed()) return;
    const body = JSON.stringify({ e: this.#edgeKey, p: patterns });
    const subject = `${this.#options.cluster}.interest.add`;
    try {
      if (this.#otherEdges === 0) {
        // Alone (as far as known): an edge joining later asks everyone's full state.
        nc.publish(subject, body);
        return;
      }
      const replies = await nc.requestMany(subject, body, { strategy: 'count', maxMessages: this.#otherEdges, maxWait: INTEREST_ACK_TIMEOUT_MS });
      for await (const _ of replies) {
        // counting acknowledgements
      }
    } catch {
      // No other edge listening, or NATS going away: the state is sent again on reconnect.
    }
  }

  /** This edge's interest, one pattern per declaration (the other edges count them). */
  #ownPatterns(): string[] {
    const out: string[] = [];
    for (const e of this.#interest.values()) out.push(...e.patterns);
    for (const e of this.#sharedInterest.values()) out.push(...e.patterns);
    return out;
  }

  /** This edge's full interest as one message; too large for one NATS message: "everything" (safe, costlier). */
  #stateBody(): string {
    const body = JSON.stringify({ e: this.#edgeKey, p: this.#ownPatterns() });
    const max = (this.#nc?.info?.max_payload ?? 1_048_576) - 1_024;
    return body.length <= max ? body : JSON.stringify({ e: this.#edgeKey, p: [`${this.#prefix}>`] });
  }

  #onInterest(op: string, msg: Msg): void {
    if (op === 'dump') {
      respondQuietly(msg, this.#stateBody());
      return;
    }
    let body: { e?: unknown; p?: unknown };
    try {
      body = msg.json();
    } catch {
      return;
    }
    if (typeof body.e !== 'string' || body.e === this.#edgeKey) return;
    const patterns = Array.isArray(body.p) ? body.p.filter((p): p is string => typeof p === 'string') : [];
    if (op === 'add') {
      this.#view.add(body.e, patterns);
      respondQuietly(msg, '1');
    } else if (op === 'del') this.#view.remove(body.e, patterns);
    else if (op === 'state') this.#view.replace(body.e, patterns);
    else if (op === 'gone') this.#view.drop(body.e);
  }

  /**
   * After (re)connecting: every registered edge's full interest. Until it is in (or the bounded wait
   * ends: an edge that does not answer is dead or gone), this edge publishes every message.
   */
  async #syncView(nc: NatsConnection): Promise<void> {
    try {
      this.#otherEdges = this.#edges.size;
      if (this.#otherEdges > 0) {
        const replies = await nc.requestMany(`${this.#options.cluster}.interest.dump`, '', { strategy: 'count', maxMessages: this.#otherEdges, maxWait: INTEREST_ACK_TIMEOUT_MS });
        for await (const reply of replies) this.#onInterest('state', reply);
      }
      if (!nc.isClosed() && this.#connected) this.#viewReady = true;
    } catch (error) {
      if (isNoResponders(error)) {
        if (this.#connected) this.#viewReady = true;
        return;
      }
      this.#options.logger.warn({ err: error }, 'cluster: could not learn the other edges\' interest; publishing every message meanwhile');
    }
  }

  async holdInterest(account: string, filters: readonly string[]): Promise<() => void> {
    const held: Array<{ levels: string; group: string | undefined }> = [];
    const acks: Array<Promise<void> | undefined> = [];
    for (const filter of filters) {
      // Invalid filters are refused by the SUBSCRIBE handler; they never reach NATS.
      if (checkTopicFilter(filter) !== null) continue;
      const shared = parseSharedFilter(filter);
      const h = { levels: shared?.filter ?? filter, group: shared?.group };
      acks.push(this.#addInterest(account, h.levels, h.group).acked);
      held.push(h);
    }
    if (held.length > 0 && this.#connected) {
      // PING/PONG: once it is answered the server has every SUB sent before it. Bounded: NATS going
      // away meanwhile must not hold the client's SUBACK.
      let timer: NodeJS.Timeout | undefined;
      // Also every other edge acknowledged the interest: they publish what matches it from now on.
      const flushes = [this.#nc, held.some((h) => h.group !== undefined) ? this.#qnc : undefined].map((c) => c?.flush().catch(() => {}));
      await Promise.race([Promise.all([...flushes, ...acks]), new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000)))]);
      clearTimeout(timer);
    }
    return () => {
      for (const h of held) this.onUnsubscribe(account, h.levels, h.group);
    };
  }

  onUnsubscribe(account: string, levelsFilter: string, group: string | undefined): void {
    const map = group === undefined ? this.#interest : this.#sharedInterest;
    const key = group === undefined ? `${account}\u0000${levelsFilter}` : `${account}\u0000${levelsFilter}\u0000${group}`;
    const entry = map.get(key);
    if (!entry || --entry.count > 0) return;
    map.delete(key);
    for (const sub of entry.subs) unsubscribeQuietly(sub);
    if (group !== undefined) this.#view.remove(this.#edgeKey, entry.patterns);
    this.#publishQuietly(`${this.#options.cluster}.interest.del`, JSON.stringify({ e: this.#edgeKey, p: entry.patterns }));
  }

  #publishQuietly(subject: string, body: string): void {
    try {
      this.#nc?.publish(subject, body);
    } catch {
      // closing: the state is sent again on reconnect
    }
  }

  onRetain(account: string, message: Message): void {
    if (this.#applyingRemote) return;
    const key = `${encodeLevel(account)}.${topicToTokens(message.topic)}`;
    if (key.length > MAX_SUBJECT_BYTES) {
      this.#count('topic_too_long');
      return;
    }
    // A stored message keeps its expiry as a time on the edges' clock (`nowMs` 0: the header's
    // remaining lifetime is then the deadline), not a lifetime that would start again at each read.
    // A deletion is written as a frame with an empty payload, not a KV delete: a put's
    // acknowledgement carries the revision that orders the watch against this write (RetainedOrder).
    this.#pendingRetained.set(key, encodeClusterMessage({ origin: this.#origin, seq: 0, account, clientId: '', message }, RETAINED_EPOCH_MS));
    void this.#flushRetained();
  }

  onClientConnected(account: string, clientId: string, connectedAtMs: number): void {
    try {
      this.#nc?.publish(`${this.#options.cluster}.conn`, JSON.stringify({ e: this.edgeId, a: account, c: clientId, t: connectedAtMs }));
    } catch {
      this.#count('not_connected');
    }
    const session = this.#core?.sessions.get(`${account}\u0000${clientId}`);
    if (session && session.expiryIntervalSeconds > 0) this.#holdSession(session);
    if (session) this.onSessionChanged(session);
  }

  onSessionChanged(session: Session): void {
    // Handed over: the new edge writes it (a write from here would fence that edge's copy).
    if (this.#moving.has(session.key)) return;
    // A session that is neither persistent nor carries a will needs nothing kept, unless written before.
    if (session.expiryIntervalSeconds === 0 && !session.will && !this.#revisions.has(session.key)) return;
    this.#dirty.add(session.key);
    this.#schedulePersist();
  }

  onSessionEnded(account: string, clientId: string): void {
    const key = `${account}\u0000${clientId}`;
    if (this.#revisions.has(key)) {
      this.#dirty.add(key);
      this.#schedulePersist();
    }
    const sub = this.#sessionSubs.get(key);
    if (sub) unsubscribeQuietly(sub);
    this.#sessionSubs.delete(key);
  }

  async takeSession(principal: Principal, clientId: string, acl: TopicAuthorizer): Promise<Session | undefined> {
    const core = this.#core!;
    const key = `${principal.account}\u0000${clientId}`;
    const nc = this.#nc;
    if (core.sessions.has(key) || !nc || !this.#connected) return undefined;
    const subject = this.#sessionSubject(principal.account, clientId);
    if (subject.length > MAX_SUBJECT_BYTES) return undefined;
    let snap: SessionSnapshot | null = null;
    // An edge adopting the session (its edge died) may change its entry while this edge takes it:
    // then that edge holds it, and is asked again (a few times, a little later each).
    for (let attempt = 0; attempt < 4; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 25 * attempt));
      try {
        // No edge holds it: NATS answers "no responders" at once.
        const reply = await nc.request(subject, JSON.stringify({ e: this.edgeId }), { timeout: 2_000 });
        snap = reply.json<SessionSnapshot | null>();
        break;
      } catch (error) {
        if (!isNoResponders(error)) {
          this.#options.logger.warn({ err: error }, 'cluster: session handover failed; the client starts a new session here');
          return undefined;
        }
        const taken = await this.#unparkSession(key);
        if (taken === 'changed') continue;
        snap = taken;
        break;
      }
    }
    if (!snap) return undefined;
    // The old edge routes into the session until this edge's interest in its filters holds
    // cluster-wide; then it hands over what it queued meanwhile.
    if (snap.moving) this.#movingIn++;
    let session: Session;
    try {
      const unhold = snap.moving ? await this.holdInterest(principal.account, snap.subscriptions.map((s) => s.f)) : undefined;
      // Another CONNECT of this client id got here meanwhile: it has the session already.
      if (core.sessions.has(key)) {
        unhold?.();
        return undefined;
      }
      session = installSession(core, principal, clientId, acl, snap);
      unhold?.();
      if (snap.moving) await this.#takeRest(subject, session, snap.queue.length);
    } finally {
      if (snap.moving) this.#movingIn--;
    }
    this.#holdSession(session);
    this.#count('session_moved_in');
    return session;
  }

  /** The second half of a move: what the old edge queued after the first snapshot, merged in. */
  async #takeRest(subject: string, session: Session, before: number): Promise<void> {
    const nc = this.#nc;
    if (!nc) return;
    try {
      const reply = await nc.request(subject, JSON.stringify({ e: this.edgeId, op: 'release' }), { timeout: 2_000 });
      const rest = reply.json<SessionSnapshot | null>();
      if (rest) mergeMoved(this.#core!, session, before, rest, this.#frameIdOf);
    } catch (error) {
      // The old edge went meanwhile: what it queued after the first snapshot went with it.
      if (!isNoResponders(error)) this.#options.logger.warn({ err: error }, 'cluster: the rest of a moving session could not be taken');
    }
  }

  /** Parked sessions: `<account>.<client id>` → snapshot and when it expires. */
  #sessionsKey(sessionKey: string): string {
    const [account, clientId] = sessionKey.split('\u0000') as [string, string];
    return `${encodeLevel(account)}.${encodeLevel(clientId)}`;
  }

  async #sessionsBucket(): Promise<KV | undefined> {
    const nc = this.#nc;
    if (!nc) return undefined;
    this.#sessionsKv ??= await new Kvm(nc).create(`${this.#options.cluster}_sessions`, { history: 1, replicas: this.#options.kvReplicas ?? 1 });
    return this.#sessionsKv;
  }

  /** Writes every persistent session of this edge to JetStream (a graceful stop, e.g. a rolling restart). */
  async #parkSessions(): Promise<void> {
    const core = this.#core;
    if (!core) return;
    // A session handed over to another edge is that edge's to keep.
    const sessions = [...core.sessions.values()].filter((s) => s.expiryIntervalSeconds > 0 && !this.#moving.has(s.key));
    if (sessions.length === 0) return;
    try {
      const kv = await this.#sessionsBucket();
      if (!kv) return;
      const now = core.clock.nowMs();
      const max = (this.#nc?.info?.max_payload ?? 1_048_576) - 16_384;
      await Promise.all(
        sessions.map(async (s) => {
          const key = this.#sessionsKey(s.key);
          if (key.length > MAX_SUBJECT_BYTES) return;
          const parked: StoredSession = { ...snapshotSession(core, s, max), owner: '', principal: s.principal, online: false, expiresAtMs: s.expiresAtMs ?? now + s.expiryIntervalSeconds * 1000 };
          await kv.put(key, JSON.stringify(parked));
          this.#count('session_parked');
        }),
      );
    } catch (error) {
      this.#options.logger.warn({ err: error }, 'cluster: parking sessions failed; they end with this edge');
    }
  }

  /** A parked session, taken (deleted at the revision read: two edges never both take it), unless expired. */
  async #unparkSession(sessionKey: string): Promise<SessionSnapshot | null | 'changed'> {
    try {
      const kv = await this.#sessionsBucket();
      const key = this.#sessionsKey(sessionKey);
      const entry = kv && key.length <= MAX_SUBJECT_BYTES ? await kv.get(key) : null;
      if (!kv || !entry || entry.operation !== 'PUT') return null;
      try {
        await kv.delete(key, { previousSeq: entry.revision });
      } catch (error) {
        if (isWrongLastSequence(error)) return 'changed';
        throw error;
      }
      const parked = entry.json<Partial<StoredSession> & SessionSnapshot>();
      // Online when its edge died (no holder answered): the connection ended with that edge. The
      // client is back before any will delay ran out: no will [MQTT-3.1.3-9].
      if (!parked.online && (parked.expiresAtMs === undefined || parked.expiresAtMs <= this.#core!.clock.nowMs())) return null;
      this.#count('session_unparked');
      return parked;
    } catch (error) {
      this.#options.logger.warn({ err: error }, 'cluster: a parked session could not be taken; the client starts a new session here');
      return null;
    }
  }

  #sessionSubject(account: string, clientId: string): string {
    return `${this.#options.cluster}.session.${encodeLevel(account)}.${encodeLevel(clientId)}`;
  }

  #holdSession(session: Session): void {
    const nc = this.#nc;
    if (!nc || this.#sessionSubs.has(session.key)) return;
    const subject = this.#sessionSubject(session.account, session.clientId);
    if (subject.length > MAX_SUBJECT_BYTES) return;
    const key = session.key;
    this.#sessionSubs.set(
      key,
      nc.subscribe(subject, {
        callback: this.#guarded((_err, msg) => {
          const core = this.#core!;
          const held = core.sessions.get(key);
          const release = (msg.json<{ op?: string }>()).op === 'release';
          if (!held || (release && !this.#moving.has(key))) {
            respondQuietly(msg, 'null');
            return;
          }
          const snap = snapshotSession(core, held, (nc.info?.max_payload ?? 1_048_576) - 16_384, true, this.#frameIdOf);
          if (release) {
            clearTimeout(this.#moving.get(key));
            this.#moving.delete(key);
            core.endSession(held);
            respondQuietly(msg, JSON.stringify(snap));
            return;
          }
          // It continues on the asking edge: no will from this copy [MQTT-3.1.3-9], its connection is taken over.
          held.will = undefined;
          held.willAtMs = undefined;
          if (held.connection?.connected) held.connection.disconnect(RC.sessionTakenOver);
          // What was sent moved; its subscriptions keep collecting here until the asking edge's own
          // interest holds and it asks for the rest (or, if it never does, until the timer).
          held.clearQueue();
          held.clearInflight();
          clearTimeout(this.#moving.get(key));
          const timer = setTimeout(() => {
            this.#moving.delete(key);
            if (core.sessions.get(key) === held) core.endSession(held);
          }, MOVE_RELEASE_TIMEOUT_MS);
          timer.unref?.();
          this.#moving.set(key, timer);
          respondQuietly(msg, JSON.stringify({ ...snap, moving: true }));
          this.#count('session_moved_out');
        }),
      }),
    );
  }

  // ---- sessions kept in JetStream (crash-safe) ----------------------------------------------

  #schedulePersist(): void {
    if (this.#persistTimer || this.#persisting || this.#stopped || !this.#connected) return;
    this.#persistTimer = setTimeout(() => {
      this.#persistTimer = undefined;
      this.#persisting = this.#persist(MAX_PERSIST_BATCH).finally(() => {
        this.#persisting = undefined;
        if (this.#dirty.size > 0) this.#schedulePersist();
      });
    }, this.#options.persistDelayMs ?? 100);
    this.#persistTimer.unref?.();
  }

  /**
   * Writes up to `limit` changed sessions (their state now, not each change: a burst of changes to
   * one session is one write). NATS away: they stay dirty and are written once it is back.
   */
  async #persist(limit: number): Promise<void> {
    if (!this.#connected || this.#dirty.size === 0) return;
    let kv: KV | undefined;
    try {
      kv = await this.#sessionsBucket();
    } catch (error) {
      this.#options.logger.warn({ err: error }, 'cluster: session store unavailable; sessions are written when it is back');
    }
    if (!kv) return;
    const keys: string[] = [];
    for (const key of this.#dirty) {
      if (keys.length >= limit) break;
      keys.push(key);
    }
    for (const key of keys) this.#dirty.delete(key);
    await Promise.all(keys.map((key) => this.#persistOne(kv, key)));
  }

  async #persistOne(kv: KV, key: string): Promise<void> {
    const core = this.#core!;
    const kvKey = this.#sessionsKey(key);
    if (kvKey.length > MAX_SUBJECT_BYTES) return;
    const session = core.sessions.get(key);
    const revision = this.#revisions.get(key);
    try {
      if (!session || (session.expiryIntervalSeconds === 0 && !session.will)) {
        // Ended here (or nothing left to keep): removed, unless another edge wrote it since.
        if (revision === undefined) return;
        this.#revisions.delete(key);
        await kv.delete(kvKey, { previousSeq: revision }).catch(() => {});
        return;
      }
      const stored = await this.#stored(session);
      const json = JSON.stringify(stored);
      const written = revision === undefined ? await kv.put(kvKey, json) : await kv.put(kvKey, json, { previousSeq: revision });
      if (core.sessions.get(key) === session) this.#revisions.set(key, written);
      this.#count('session_written');
    } catch (error) {
      if (isWrongLastSequence(error)) {
        this.#fence(key);
        return;
      }
      this.#count('session_write_failed');
      this.#dirty.add(key);
      this.#options.logger.warn({ err: error }, 'cluster: a session could not be written to JetStream; retried');
    }
  }

  /** What JetStream keeps of `session`: its snapshot, its will if it may be published, its timers. */
  async #stored(session: Session): Promise<StoredSession> {
    const core = this.#core!;
    const now = core.clock.nowMs();
    const snap = snapshotSession(core, session, (this.#nc?.info?.max_payload ?? 1_048_576) - 16_384, false);
    const stored: StoredSession = { ...snap, owner: this.#edgeKey, principal: session.principal, online: session.connection?.connected === true };
    if (session.expiresAtMs !== undefined) stored.expiresAtMs = session.expiresAtMs;
    const will = session.will;
    if (will) {
      // Authorized now, with the client's ACL: the edge that may publish it after this one died has no ACL of the client.
      const decision = session.principal.superuser ? 'allow' : session.acl.checkPublish(will.message.topic);
      const allowed = decision === 'unknown' ? await session.acl.authorizePublish(will.message.topic).catch(() => false) : decision === 'allow';
      if (allowed) {
        stored.will = { m: toWire(will.message, now), d: will.delaySeconds, ...(will.expirySeconds !== undefined ? { x: will.expirySeconds } : {}) };
        if (session.willAtMs !== undefined) stored.willAtMs = session.willAtMs;
      }
    }
    return stored;
  }

  /**
   * The stored session changed under this edge: another edge took it (this edge was declared dead,
   * or its client resumed it elsewhere meanwhile). It lives there now: this copy ends without its
   * will [MQTT-3.1.3-9], and its connection, if any, is taken over (0x8E).
   */
  #fence(key: string): void {
    this.#revisions.delete(key);
    this.#count('session_fenced');
    const core = this.#core!;
    const session = core.sessions.get(key);
    if (!session) return;
    this.#options.logger.warn({ edge: this.edgeId }, 'cluster: a session of this edge was taken by another edge; dropping it here');
    session.will = undefined;
    session.willAtMs = undefined;
    if (session.connection?.connected) session.connection.disconnect(RC.sessionTakenOver);
    core.endSession(session);
  }

  /**
   * Enters this edge in `<cluster>_edges` (the edges others check). Found missing after a reconnect,
   * this edge was declared dead meanwhile: every session is written again, and those adopted by
   * another edge are fenced (compare-and-set fails).
   */
  async #register(nc: NatsConnection): Promise<void> {
    try {
      this.#edgesKv ??= await new Kvm(nc).create(`${this.#options.cluster}_edges`, { history: 1, replicas: this.#options.kvReplicas ?? 1 });
      const entry = await this.#edgesKv.get(this.#edgeKey);
      const wasRegistered = this.#revisions.size > 0;
      if (!entry || entry.operation !== 'PUT') {
        await this.#edgesKv.put(this.#edgeKey, this.edgeId);
        if (wasRegistered) for (const key of this.#revisions.keys()) this.#dirty.add(key);
      }
      // Updates first (nothing missed between the listing and the watch), then the listing.
      this.#edgesWatch?.stop();
      const watch = await this.#edgesKv.watch({ include: KvWatchInclude.UpdatesOnly });
      this.#edgesWatch = watch;
      void (async () => {
        for await (const e of watch) {
          if (e.key === this.#edgeKey) continue;
          if (e.operation === 'PUT') this.#edges.add(e.key);
          else this.#edges.delete(e.key);
          this.#otherEdges = this.#edges.size;
        }
      })().catch(() => {});
      for await (const key of await this.#edgesKv.keys()) if (key !== this.#edgeKey) this.#edges.add(key);
      this.#otherEdges = this.#edges.size;
      this.#schedulePersist();
    } catch (error) {
      this.#options.logger.warn({ err: error }, 'cluster: could not register this edge; dead-edge recovery unavailable');
    }
  }

  /**
   * Asks every registered edge whether it is alive; one that NATS says nobody answers for, three
   * checks in a row (and not just after this edge's own reconnect), is dead.
   */
  async #checkEdges(): Promise<void> {
    const nc = this.#nc;
    const kv = this.#edgesKv;
    if (!nc || !kv || !this.#connected || this.#checkingEdges || this.#stopped) return;
    this.#checkingEdges = true;
    const every = this.#options.livenessIntervalMs ?? 1_000;
    try {
      const others = [...this.#edges];
      await Promise.all(
        others.map(async (key) => {
          try {
            await nc.request(`${this.#options.cluster}.edge.${key}`, '', { timeout: 1_000 });
            this.#misses.delete(key);
          } catch (error) {
            // A timeout is a slow edge, not a dead one: only NATS's "nobody subscribes" counts.
            if (!isNoResponders(error) || !this.#connected) return;
            // Just back from a NATS outage: the others are reconnecting as well, not dead.
            if (this.#core!.clock.nowMs() - this.#linkedAtMs < 5 * every) return;
            const misses = (this.#misses.get(key) ?? 0) + 1;
            this.#misses.set(key, misses);
            if (misses >= 3) await this.#claimDeadEdge(kv, key);
          }
        }),
      );
    } catch (error) {
      this.#options.logger.warn({ err: error }, 'cluster: edge liveness check failed');
    } finally {
      this.#checkingEdges = false;
    }
  }

  /** Removes a dead edge's entry (compare-and-set: one edge wins) and, if this edge won, adopts its sessions. */
  async #claimDeadEdge(kv: KV, key: string): Promise<void> {
    this.#misses.delete(key);
    const entry = await kv.get(key);
    const forget = () => {
      this.#edges.delete(key);
      this.#otherEdges = this.#edges.size;
    };
    if (!entry || entry.operation !== 'PUT') return forget(); // gone already
    try {
      await kv.delete(key, { previousSeq: entry.revision });
    } catch {
      return forget(); // another edge claimed it
    }
    forget();
    this.#count('edge_declared_dead');
    this.#view.drop(key);
    this.#publishQuietly(`${this.#options.cluster}.interest.gone`, JSON.stringify({ e: key }));
    this.#options.logger.warn({ edge: this.edgeId, dead: entry.string() }, 'cluster: an edge is gone; adopting its sessions');
    const sessions = await this.#sessionsBucket();
    if (!sessions) return;
    const keys: string[] = [];
    for await (const k of await sessions.keys()) keys.push(k);
    for (const k of keys) {
      try {
        const e = await sessions.get(k);
        if (!e || e.operation !== 'PUT') continue;
        const stored = e.json<StoredSession>();
        if (stored.owner === key) await this.#adopt(sessions, k, e.revision, stored);
      } catch (error) {
        this.#options.logger.warn({ err: error }, 'cluster: a session of a dead edge could not be adopted');
      }
    }
  }

  /**
   * A dead edge's session comes here: its client's connection ended with that edge, so the will
   * waits for its delay (or the session's end) from now [MQTT-3.1.3-9], then is published once —
   * the entry is taken by compare-and-set, so no other edge gets it. The session stays here, offline,
   * until its client resumes it (on any edge, by the handover) or it expires.
   */
  async #adopt(kv: KV, kvKey: string, revision: number, stored: StoredSession): Promise<void> {
    const core = this.#core!;
    const now = core.clock.nowMs();
    const clientId = tokensToTopic(kvKey.slice(kvKey.indexOf('.') + 1));
    if (clientId === undefined) return;
    const key = `${stored.principal.account}\u0000${clientId}`;
    if (core.sessions.has(key)) return; // its client resumed here already
    const expiresAtMs = stored.online ? now + stored.expirySeconds * 1000 : (stored.expiresAtMs ?? now);
    const willAtMs = stored.will ? (stored.online ? now + stored.will.d * 1000 : stored.willAtMs) : undefined;
    const adopted: StoredSession = { ...stored, owner: this.#edgeKey, online: false, expiresAtMs, ...(willAtMs !== undefined ? { willAtMs } : {}) };
    let written: number;
    try {
      written = await kv.put(kvKey, JSON.stringify(adopted), { previousSeq: revision });
    } catch {
      return; // resumed or adopted elsewhere meanwhile
    }
    if (core.sessions.has(key)) return;
    const session = installSession(core, stored.principal, clientId, adoptedAcl(stored.will?.m.t), stored);
    session.expiresAtMs = expiresAtMs;
    if (stored.will) {
      session.will = { message: fromWire(stored.will.m, now), delaySeconds: stored.will.d, expirySeconds: stored.will.x };
      session.willAtMs = willAtMs;
    }
    this.#revisions.set(key, written);
    this.#holdSession(session);
    this.#count('session_adopted');
    // Its subscriptions are on the server before its will goes out: whoever saw the will reaches the session.
    await this.#nc?.flush().catch(() => {});
    if (session.willAtMs !== undefined && session.willAtMs <= now) core.publishWill(session);
    // Not persistent (or expired meanwhile): it ends now (a pending will is published at its end).
    if (expiresAtMs <= now) core.endSession(session);
  }

  // ---- admin (scatter-gather) -----------------------------------------------------------------

  /** Every edge's clients of `account` (this edge's always; others' that answer in time). */
  async listClients(account: string, limit: number): Promise<EdgeClient[]> {
    const answers = await this.#gather<EdgeClient[]>('clients', { a: account, l: limit });
    return [...(this.#admin?.clients(account).slice(0, limit) ?? []), ...answers.flat()].slice(0, limit);
  }

  async kick(clientId: string, reasonCode: number, account: string): Promise<number> {
    const answers = await this.#gather<number>('kick', { c: clientId, r: reasonCode, a: account });
    return (this.#admin?.kick(clientId, reasonCode, account) ?? 0) + answers.reduce((n, x) => n + x, 0);
  }

  /** Sums of every answering edge's stats, and how many edges answered (this one included). */
  async stats(): Promise<{ edges: number; totals: Record<string, number> }> {
    const answers = await this.#gather<Record<string, number>>('stats', {});
    const all = [this.#admin?.stats() ?? {}, ...answers];
    const totals: Record<string, number> = {};
    for (const s of all) for (const [k, v] of Object.entries(s)) totals[k] = (totals[k] ?? 0) + v;
    return { edges: all.length, totals };
  }

  /** Every answering edge's figures for `accounts`, summed. */
  async accountStats(accounts: readonly string[]): Promise<AccountStats> {
    const answers = await this.#gather<AccountStats>('astats', { s: accounts });
    return sumAccountStats([...(this.#admin ? [this.#admin.accountStats(accounts)] : []), ...answers]);
  }

  async #gather<T>(op: string, body: object): Promise<T[]> {
    const nc = this.#nc;
    if (!nc || !this.#connected) return [];
    const out: T[] = [];
    try {
      const replies = await nc.requestMany(`${this.#options.cluster}.admin.${op}`, JSON.stringify(body), {
        strategy: 'timer',
        maxWait: this.#options.adminTimeoutMs ?? 500,
      });
      for await (const reply of replies) {
        try {
          out.push(reply.json<T>());
        } catch {
          // an answer that is not JSON is not an edge's: skip it
        }
      }
    } catch (error) {
      // No other edge is listening: this one answers alone.
      if (isNoResponders(error)) return out;
      this.#options.logger.warn({ err: error, op }, 'cluster: admin request failed; answering for this edge only');
    }
    return out;
  }

  // ---- connection lifecycle ----------------------------------------------------------------

  async #onConnected(nc: NatsConnection): Promise<void> {
    if (this.#stopped) {
      await nc.close();
      return;
    }
    this.#nc = nc;
    this.#options.logger.info({ server: nc.getServer(), edge: this.edgeId }, 'cluster: connected to NATS');
    for (const entry of this.#interest.values()) this.#declare(nc, entry);
    for (const session of this.#core?.sessions.values() ?? []) if (session.expiryIntervalSeconds > 0) this.#holdSession(session);
    const cluster = this.#options.cluster;
    nc.subscribe(`${cluster}.conn`, { callback: this.#guarded((_err, msg) => this.#onConnectAnnounced(msg.data)) });
    nc.subscribe(`${cluster}.admin.*`, { callback: this.#guarded((_err, msg) => this.#onAdminRequest(msg.subject.slice(cluster.length + 7), msg.data, (d) => respondQuietly(msg, d))) });
    // Liveness: NATS drops this subscription with the connection, so "no responders" means gone.
    nc.subscribe(`${cluster}.edge.${this.#edgeKey}`, { callback: (_err, msg) => respondQuietly(msg, '1') });
    nc.subscribe(`${cluster}.interest.*`, { callback: this.#guarded((_err, msg) => this.#onInterest(msg.subject.slice(cluster.length + 10), msg)) });
    nc.publish(`${cluster}.interest.state`, this.#stateBody());
    void this.#followStatus(nc);
    await this.#linkUp(nc, (up) => (this.#connected = up));
    await this.#openRetained(nc);
    await this.#register(nc);
    await this.#syncView(nc);
    const every = this.#options.livenessIntervalMs ?? 1_000;
    this.#livenessTimer ??= setInterval(() => void this.#checkEdges(), every);
    this.#livenessTimer.unref?.();
  }

  /**
   * "Connected" means the server has every subscription made so far (one PING/PONG after they were
   * sent), so what other edges publish from then on reaches this edge's clients.
   */
  async #linkUp(nc: NatsConnection, set: (up: boolean) => void): Promise<void> {
    const disconnects = this.#disconnects;
    await nc.flush().catch(() => {});
    if (!nc.isClosed() && disconnects === this.#disconnects && !this.#stopped) {
      this.#linkedAtMs = this.#core?.clock.nowMs() ?? 0;
      set(true);
    }
  }

  async #followStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.#disconnects++;
        this.#connected = false;
        this.#viewReady = false;
        this.#options.logger.warn({ edge: this.edgeId }, 'cluster: NATS connection lost; serving local clients (degraded)');
      } else if (s.type === 'reconnect') {
        // Core subscriptions (interest) are re-sent by the client library; the retained watch is a
        // JetStream consumer the server may have lost, so it is opened again (a full reload).
        this.#options.logger.info({ edge: this.edgeId }, 'cluster: NATS connection back');
        this.#viewReady = false;
        // What this edge subscribed to meanwhile was not announced: its full state, for every edge.
        try {
          nc.publish(`${this.#options.cluster}.interest.state`, this.#stateBody());
        } catch {
          // closing
        }
        void this.#linkUp(nc, (up) => (this.#connected = up)).then(async () => {
          await this.#openRetained(nc);
          await this.#register(nc);
          await this.#syncView(nc);
        });
      }
    }
  }

  #declare(nc: NatsConnection, entry: Interest): void {
    for (const pattern of entry.patterns) {
      entry.subs.push(nc.subscribe(pattern, { callback: this.#guarded((_err, msg) => this.#onRemoteMessage(msg.data)) }));
    }
  }

  #declareShared(qnc: NatsConnection, entry: Interest & { queue: string; account: string; levels: string; group: string }): void {
    for (const pattern of entry.patterns) {
      entry.subs.push(qnc.subscribe(pattern, { queue: entry.queue, callback: this.#guarded((_err, msg) => this.#onSharedMessage(entry, msg.data)) }));
    }
  }

  async #onQueueConnected(qnc: NatsConnection): Promise<void> {
    if (this.#stopped) {
      await qnc.close();
      return;
    }
    this.#qnc = qnc;
    for (const entry of this.#sharedInterest.values()) this.#declareShared(qnc, entry);
    void (async () => {
      for await (const s of qnc.status()) {
        if (s.type === 'disconnect') {
          this.#disconnects++;
          this.#qConnected = false;
        } else if (s.type === 'reconnect') void this.#linkUp(qnc, (up) => (this.#qConnected = up));
      }
    })();
    await this.#linkUp(qnc, (up) => (this.#qConnected = up));
  }

  /** NATS picked this edge for a shared group: one of its members here gets the message. */
  #onSharedMessage(entry: { account: string; levels: string; group: string }, data: Uint8Array): void {
    const core = this.#core;
    if (!core) return;
    const m = decodeClusterMessage(data, core.clock.nowMs());
    if (!m || m.account !== entry.account) {
      this.#count('undecodable');
      return;
    }
    this.#count('received_shared');
    deliverShared(core, entry.account, entry.levels, entry.group, m.message);
  }

  #onRemoteMessage(data: Uint8Array): void {
    const core = this.#core;
    if (!core) return;
    const m = decodeClusterMessage(data, core.clock.nowMs());
    if (!m) {
      this.#count('undecodable');
      return;
    }
    if (m.origin === this.#origin) return;
    const last = this.#lastSeq.get(m.origin);
    if (last !== undefined && m.seq <= last) {
      this.#count('duplicates_dropped');
      return;
    }
    if (last === undefined && this.#lastSeq.size >= 10_000) this.#lastSeq.clear();
    this.#lastSeq.set(m.origin, m.seq);
    this.#count('received');
    if (this.#moving.size > 0 || this.#movingIn > 0) this.#frameIds.set(m.message, `${m.origin}#${m.seq}`);
    // [MQTT-3.8.3-3] No Local by client, cluster-wide: the publisher's session, if this edge holds one.
    const origin = m.clientId ? core.sessions.get(`${m.account}\u0000${m.clientId}`) : undefined;
    core.route(m.account, m.message, origin);
  }

  #onConnectAnnounced(data: Uint8Array): void {
    const core = this.#core;
    if (!core) return;
    let a: { e: string; a: string; c: string; t: number };
    try {
      a = JSON.parse(Buffer.from(data).toString('utf8')) as typeof a;
    } catch {
      return;
    }
    if (a.e === this.edgeId) return;
    const session = core.sessions.get(`${a.a}\u0000${a.c}`);
    if (!session) return;
    const conn = session.connection;
    // The later CONNECT wins; equal times are broken by edge id so exactly one edge keeps the client.
    if (conn?.connected && (conn.connectedAtMs > a.t || (conn.connectedAtMs === a.t && this.edgeId > a.e))) return;
    // The session now lives on the other edge: no will from this copy [MQTT-3.1.3-9], then it ends.
    session.will = undefined;
    session.willAtMs = undefined;
    if (conn?.connected) conn.disconnect(RC.sessionTakenOver);
    core.endSession(session);
    this.#count('taken_over');
  }

  #onAdminRequest(op: string, data: Uint8Array, respond: (data: string) => void): void {
    const admin = this.#admin;
    if (!admin) return;
    let body: { a?: string; c?: string; r?: number; l?: number; s?: unknown };
    try {
      body = JSON.parse(Buffer.from(data).toString('utf8')) as typeof body;
    } catch {
      return;
    }
    if (op === 'clients' && typeof body.a === 'string') {
      let clients = admin.clients(body.a).slice(0, typeof body.l === 'number' ? body.l : 1_000);
      // The answer must fit in one NATS message: a long list is cut (the caller asked for a page anyway).
      const max = (this.#nc?.info?.max_payload ?? 1_048_576) - 1_024;
      let json = JSON.stringify(clients);
      while (json.length > max && clients.length > 0) {
        clients = clients.slice(0, Math.floor(clients.length / 2));
        json = JSON.stringify(clients);
      }
      respond(json);
    }
    else if (op === 'kick' && typeof body.c === 'string' && typeof body.a === 'string' && typeof body.r === 'number') respond(JSON.stringify(admin.kick(body.c, body.r, body.a)));
    else if (op === 'stats') respond(JSON.stringify(admin.stats()));
    else if (op === 'astats' && Array.isArray(body.s) && body.s.every((a) => typeof a === 'string')) respond(JSON.stringify(admin.accountStats(body.s as string[])));
  }

  // ---- retained (JetStream KV) --------------------------------------------------------------

  async #openRetained(nc: NatsConnection): Promise<void> {
    try {
      this.#kv ??= await new Kvm(nc).create(`${this.#options.cluster}_retained`, { history: 1, replicas: this.#options.kvReplicas ?? 1 });
      this.#watch?.stop();
      const watch = await this.#kv.watch();
      this.#watch = watch;
      // The new watch replays every key's last value: no revision of the old one matters any more.
      this.#retainedOrder.reset();
      let loaded!: () => void;
      const ready = new Promise<void>((resolve) => (loaded = resolve));
      // The watch first replays the last value of every key, then follows changes; `delta` 0 marks
      // the last message pending when it started (an empty bucket replays nothing).
      const status = await this.#kv.status();
      if (status.values === 0) loaded();
      void (async () => {
        for await (const entry of watch) {
          this.#watchedRetained(entry);
          if (entry.isUpdate || entry.delta === 0) loaded();
        }
      })().catch((error: unknown) => this.#options.logger.warn({ err: error }, 'cluster: retained watch ended'));
      await this.#flushRetained();
      await ready;
    } catch (error) {
      this.#options.logger.warn({ err: error }, 'cluster: retained store unavailable; retained messages stay on this edge until NATS is back');
    }
  }

  /** An entry from the watch: applied now, or held or skipped against this edge's own writes of its key. */
  #watchedRetained(entry: KvWatchEntry): void {
    const writing = this.#pendingRetained.has(entry.key) || this.#retainedInFlight.has(entry.key);
    if (this.#retainedOrder.admit(entry.key, entry, writing)) this.#applyRetained(entry);
  }

  #applyRetained(entry: KvWatchEntry): void {
    const core = this.#core;
    if (!core) return;
    const dot = entry.key.indexOf('.');
    const account = tokensToTopic(entry.key.slice(0, dot));
    const topic = tokensToTopic(entry.key.slice(dot + 1));
    if (dot < 0 || account === undefined || topic === undefined) return;
    let message: Message;
    if (entry.operation === 'PUT') {
      const m = decodeClusterMessage(entry.value, RETAINED_EPOCH_MS);
      if (!m) {
        this.#count('undecodable');
        return;
      }
      message = m.message;
    } else {
      message = { topic, payload: Buffer.alloc(0), qos: 0, retain: true, properties: undefined, expiresAtMs: undefined };
    }
    this.#applyingRemote = true;
    try {
      core.retain(account, message);
    } finally {
      this.#applyingRemote = false;
    }
  }

  /**
   * One writer drains the pending retained writes, up to RETAINED_WRITE_WINDOW in flight (issued in
   * order on one connection: the bucket's stream keeps that order, and so does every watch). A call
   * while it runs joins it: a burst of N retained messages costs N writes, not one sweep each.
   */
  #flushRetained(): Promise<void> {
    this.#retainedWriter ??= this.#drainRetained().finally(() => {
      this.#retainedWriter = undefined;
      // Written meanwhile, after the drain's last look (and NATS still up): drain again.
      if (this.#pendingRetained.size > 0 && this.#connected && this.#kv) void this.#flushRetained();
    });
    return this.#retainedWriter;
  }

  async #drainRetained(): Promise<void> {
    const inFlight = this.#retainedInFlight;
    let halted = false;
    const write = async (kv: KV, key: string, value: Uint8Array): Promise<void> => {
      // Written at `revision`; undefined: not written (refused, or retried once NATS is back).
      let revision: number | undefined;
      try {
        revision = await kv.put(key, value);
        // A newer write of the same key made meanwhile stays pending.
        if (this.#pendingRetained.get(key) === value) this.#pendingRetained.delete(key);
      } catch (error) {
        this.#count('retained_write_failed');
        if (!this.#connected) {
          if (!halted) this.#options.logger.warn({ err: error }, 'cluster: retained write failed; retried when NATS is back');
          halted = true;
          return;
        }
        // Refused by a reachable server (e.g. over max_payload): retrying would block every later write.
        if (this.#pendingRetained.get(key) === value) this.#pendingRetained.delete(key);
        this.#options.logger.warn({ err: error, key }, 'cluster: retained write refused; the message stays on this edge');
      } finally {
        inFlight.delete(key);
        // Another edge's write of the key that came meanwhile, if it is the newer one.
        const newer = this.#retainedOrder.settled(key, revision, this.#pendingRetained.has(key));
        if (newer) this.#applyRetained(newer);
      }
    };
    for (;;) {
      const kv = this.#kv;
      if (!kv || !this.#connected || halted) break;
      let next: [string, Uint8Array] | undefined;
      // A key being written waits for that write: its newer value is issued after it.
      for (const entry of this.#pendingRetained) {
        if (!inFlight.has(entry[0])) {
          next = entry;
          break;
        }
      }
      if (!next) {
        if (inFlight.size === 0) break;
        await Promise.race(inFlight.values());
        continue;
      }
      inFlight.set(next[0], write(kv, next[0], next[1]));
      if (inFlight.size >= RETAINED_WRITE_WINDOW) await Promise.race(inFlight.values());
    }
    await Promise.all(inFlight.values());
  }

  /**
   * A NATS callback that throws would unwind into the client library's reader: a bug costs one
   * message (logged, counted), never the subscription or the connection.
   */
  #guarded(fn: (err: Error | null, msg: Msg) => void): (err: Error | null, msg: Msg) => void {
    return (err, msg) => {
      try {
        fn(err, msg);
      } catch (error) {
        this.#count('callback_failed');
        this.#options.logger.error({ err: error, subject: msg.subject }, 'cluster: a NATS message could not be handled');
      }
    };
  }

  #count(counter: ClusterCounter): void {
    this.counters.set(counter, (this.counters.get(counter) ?? 0) + 1);
  }
}

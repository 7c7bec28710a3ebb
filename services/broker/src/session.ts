/**
 * Session state [MQTT-4.1]: subscriptions, in-flight outbound messages, the bounded queue and
 * QoS 2 receipts. Outlives its connection while Session Expiry allows.
 */
import type { Principal, TopicAuthorizer } from './domain/ports.ts';
import type { Subscription } from '#libs/topics/topic-tree.ts';
import type { Connection } from './connection.ts';
import type { AccountTally } from './domain/account-tally.ts';

/** Publish properties that travel with a message to subscribers (never the topic alias). */
export interface ForwardProperties {
  payloadFormatIndicator?: boolean;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: Record<string, string | string[]>;
  contentType?: string;
}

export interface Message {
  /** Client-visible topic (inside the account namespace). */
  topic: string;
  payload: Buffer;
  /** The payload is our own copy, not a view into a socket chunk. */
  payloadOwned?: boolean;
  qos: 0 | 1 | 2;
  retain: boolean;
  properties: ForwardProperties | undefined;
  /** Absolute; undefined when the publisher set no Message Expiry Interval. */
  expiresAtMs: number | undefined;
  /** Set when stored as retained: the store's sequence then (newer than a cursor: routed live). */
  retainedSeq?: number;
}

/**
 * The retained messages still owed to one new subscription [MQTT-3.3.1-9], drawn by the session
 * pump as the in-flight window and the socket allow — never all at once, never dropped.
 */
export interface RetainedCursor {
  sub: Subscription<Session>;
  /** The filter matched against topics (the inner one of a shared filter). */
  levels: string;
  /** Over the account's retained store, in insertion order; undefined for a filter without wildcards. */
  iterator: Iterator<Message> | undefined;
  /** Only messages retained before the SUBSCRIBE: later ones reached the subscriber live. */
  untilSeq: number;
  /** Drawn but waiting for the in-flight window. */
  pending: Message | undefined;
  /**
   * Topics a retained PUBLISH was routed live through `sub` for since the SUBSCRIBE: their stored
   * value is older and is not sent after it. (On one edge the store already holds the new one; in
   * a cluster the live copy from another edge can arrive before the store's mirror has it.)
   */
  liveRetained: Set<string> | undefined;
}

export interface Delivery {
  message: Message;
  qos: 0 | 1 | 2;
  retain: boolean;
  subscriptionIds: number[] | undefined;
}

export interface Inflight extends Delivery {
  packetId: number;
  /** 'publish': waiting for PUBACK/PUBREC; 'pubrel': PUBREL sent, waiting for PUBCOMP. */
  state: 'publish' | 'pubrel';
}

export interface Will {
  message: Message;
  delaySeconds: number;
  /** v5 Message Expiry Interval of the will: its lifetime counts from when it is published. */
  expirySeconds: number | undefined;
}

/*
 * An idle session holds no collections: subscriptions, in-flight messages, the queue and QoS 2
 * receipts are allocated on first use and dropped when they empty again (an empty Map costs
 * ~150 bytes; at 10,000 idle connections four of them were ~6 MB). Readers see shared, frozen
 * empty ones.
 */
const NO_SUBSCRIPTIONS: ReadonlyMap<string, Subscription<Session>> = new Map();
const NO_INFLIGHT: ReadonlyMap<number, Inflight> = new Map();
const NO_DELIVERIES: readonly Delivery[] = Object.freeze([]);

export class Session {
  readonly key: string;
  readonly clientId: string;
  readonly account: string;
  principal: Principal;
  acl: TopicAuthorizer;
  #subscriptions: Map<string, Subscription<Session>> | undefined;
  #inflight: Map<number, Inflight> | undefined;
  /** Outbound messages waiting for the in-flight window (bounded by the broker). */
  queue: readonly Delivery[] = NO_DELIVERIES;
  /** QoS 2 packet ids received and PUBREC'd, waiting for PUBREL [MQTT-4.3.3-9]. */
  #incomingQos2: Set<number> | undefined;
  connection: Connection | undefined;
  expiryIntervalSeconds = 0;
  /** Set while offline: when the session ends. */
  expiresAtMs: number | undefined;
  will: Will | undefined;
  /** Set while a will waits for its Will Delay Interval. */
  willAtMs: number | undefined;
  #nextPacketId = 1;
  /** Retained deliveries still owed to new subscriptions, oldest first (allocated on first use). */
  retainedCursors: RetainedCursor[] | undefined;
  /** The connection a continuation of the retained cursors is scheduled for (see BrokerCore.pump). */
  retainedPumpFor: Connection | undefined;

  /** Its account's traffic counters on this edge (shared by the account's sessions). */
  readonly tally: AccountTally;

  constructor(key: string, clientId: string, principal: Principal, acl: TopicAuthorizer, tally: AccountTally) {
    this.key = key;
    this.tally = tally;
    this.clientId = clientId;
    this.account = principal.account;
    this.principal = principal;
    this.acl = acl;
  }

  get subscriptions(): ReadonlyMap<string, Subscription<Session>> {
    return this.#subscriptions ?? NO_SUBSCRIPTIONS;
  }

  setSubscription(sub: Subscription<Session>): void {
    (this.#subscriptions ??= new Map()).set(sub.filter, sub);
  }

  deleteSubscription(filter: string): void {
    this.#subscriptions?.delete(filter);
    if (this.#subscriptions?.size === 0) this.#subscriptions = undefined;
  }

  get inflight(): ReadonlyMap<number, Inflight> {
    return this.#inflight ?? NO_INFLIGHT;
  }

  setInflight(f: Inflight): void {
    (this.#inflight ??= new Map()).set(f.packetId, f);
  }

  deleteInflight(packetId: number): void {
    this.#inflight?.delete(packetId);
    if (this.#inflight?.size === 0) this.#inflight = undefined;
  }

  clearInflight(): void {
    this.#inflight = undefined;
  }

  enqueue(delivery: Delivery): void {
    if (this.queue === NO_DELIVERIES) this.queue = [delivery];
    else (this.queue as Delivery[]).push(delivery);
  }

  /** Drops the first `n` queued deliveries (sent, or expired). */
  dequeue(n: number): void {
    this.queue = n >= this.queue.length ? NO_DELIVERIES : this.queue.slice(n);
  }

  clearQueue(): void {
    this.queue = NO_DELIVERIES;
  }

  hasIncomingQos2(packetId: number): boolean {
    return this.#incomingQos2?.has(packetId) ?? false;
  }

  get incomingQos2Count(): number {
    return this.#incomingQos2?.size ?? 0;
  }

  addIncomingQos2(packetId: number): void {
    (this.#incomingQos2 ??= new Set()).add(packetId);
  }

  /** Answers whether the id was waiting for its PUBREL. */
  deleteIncomingQos2(packetId: number): boolean {
    const known = this.#incomingQos2?.delete(packetId) ?? false;
    if (this.#incomingQos2?.size === 0) this.#incomingQos2 = undefined;
    return known;
  }

  /** A packet id not in use by an in-flight message [MQTT-2.2.1-3]. */
  allocatePacketId(): number {
    for (;;) {
      const id = this.#nextPacketId;
      this.#nextPacketId = id === 65_535 ? 1 : id + 1;
      if (!this.#inflight?.has(id)) return id;
    }
  }
}

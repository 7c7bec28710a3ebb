/**
 * Session state [MQTT-4.1]: subscriptions, in-flight outbound messages, the bounded queue and
 * QoS 2 receipts. Outlives its connection while Session Expiry allows.
 */
import type { Principal, TopicAuthorizer } from './domain/ports.ts';
import type { Subscription } from './domain/topic-tree.ts';
import type { Connection } from './connection.ts';

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
}

export class Session {
  readonly key: string;
  readonly clientId: string;
  readonly account: string;
  principal: Principal;
  acl: TopicAuthorizer;
  readonly subscriptions = new Map<string, Subscription<Session>>();
  readonly inflight = new Map<number, Inflight>();
  queue: Delivery[] = [];
  /** QoS 2 packet ids received and PUBREC'd, waiting for PUBREL [MQTT-4.3.3-9]. */
  readonly incomingQos2 = new Set<number>();
  connection: Connection | undefined;
  expiryIntervalSeconds = 0;
  /** Set while offline: when the session ends. */
  expiresAtMs: number | undefined;
  will: Will | undefined;
  /** Set while a will waits for its Will Delay Interval. */
  willAtMs: number | undefined;
  #nextPacketId = 1;

  constructor(key: string, clientId: string, principal: Principal, acl: TopicAuthorizer) {
    this.key = key;
    this.clientId = clientId;
    this.account = principal.account;
    this.principal = principal;
    this.acl = acl;
  }

  /** A packet id not in use by an in-flight message [MQTT-2.2.1-3]. */
  allocatePacketId(): number {
    for (;;) {
      const id = this.#nextPacketId;
      this.#nextPacketId = id === 65_535 ? 1 : id + 1;
      if (!this.inflight.has(id)) return id;
    }
  }
}

/**
 * A persistent session moving between edges [MQTT-4.1]: the edge holding it writes a snapshot
 * (subscriptions, queued and in-flight QoS 1/2 messages, QoS 2 receipts, expiry) and drops its copy;
 * the edge the client reconnected to installs it before its CONNACK (Session Present = 1).
 */
import { parseSharedFilter } from '#libs/topics/topic-filter.ts';
import type { BrokerCore } from '../broker-core.ts';
import type { Principal, TopicAuthorizer } from '../domain/ports.ts';
import { Session, type Delivery, type ForwardProperties, type Message } from '../session.ts';

export interface WireMessage {
  t: string;
  p: string;
  q: 0 | 1 | 2;
  r: boolean;
  /** Remaining lifetime in ms. */
  e?: number;
  f?: Omit<ForwardProperties, 'correlationData'> & { correlationData?: string };
}

interface WireDelivery {
  m: WireMessage;
  q: 0 | 1 | 2;
  r: boolean;
  s?: number[];
  /** In flight: packet id and state. */
  id?: number;
  st?: 'publish' | 'pubrel';
  /** The cluster frame that carried the message (`<origin>#<seq>`): copies got twice while moving are dropped. */
  i?: string;
}

export interface SessionSnapshot {
  expirySeconds: number;
  subscriptions: Array<{ f: string; q: 0 | 1 | 2; nl: boolean; rap: boolean; rh: number; id?: number }>;
  inflight: WireDelivery[];
  queue: WireDelivery[];
  incomingQos2: number[];
  /**
   * The old edge keeps routing into the session until the new one's interest holds, then hands
   * over what it queued meanwhile (`release`): no message published during the move is lost.
   */
  moving?: true;
}

export function toWire(m: Message, nowMs: number): WireMessage {
  const w: WireMessage = { t: m.topic, p: m.payload.toString('base64'), q: m.qos, r: m.retain };
  if (m.expiresAtMs !== undefined) w.e = Math.max(0, m.expiresAtMs - nowMs);
  if (m.properties) {
    const { correlationData, ...rest } = m.properties;
    w.f = correlationData ? { ...rest, correlationData: correlationData.toString('base64') } : rest;
  }
  return w;
}

export function fromWire(w: WireMessage, nowMs: number): Message {
  let properties: ForwardProperties | undefined;
  if (w.f) {
    const { correlationData, ...rest } = w.f;
    properties = correlationData !== undefined ? { ...rest, correlationData: Buffer.from(correlationData, 'base64') } : rest;
  }
  return { topic: w.t, payload: Buffer.from(w.p, 'base64'), payloadOwned: true, qos: w.q, retain: w.r, properties, expiresAtMs: w.e !== undefined ? nowMs + w.e : undefined };
}

/** The id of the cluster frame that carried a message to (or from) this edge, if it crossed. */
export type FrameIdOf = (m: Message) => string | undefined;

const delivery = (d: Delivery, nowMs: number, idOf?: FrameIdOf): WireDelivery => {
  const w: WireDelivery = { m: toWire(d.message, nowMs), q: d.qos, r: d.retain, ...(d.subscriptionIds ? { s: d.subscriptionIds } : {}) };
  const id = idOf?.(d.message);
  if (id !== undefined) w.i = id;
  return w;
};

/**
 * Snapshot of `session`, at most `maxBytes` of JSON: queued messages past that are dropped (counted
 * as `dropped_queue_full`), oldest kept first, like a full queue.
 */
export function snapshotSession(core: BrokerCore, session: Session, maxBytes: number, countDrops = true, idOf?: FrameIdOf): SessionSnapshot {
  const now = core.clock.nowMs();
  const snap: SessionSnapshot = {
    expirySeconds: session.expiryIntervalSeconds,
    subscriptions: [...session.subscriptions.values()].map((s) => ({ f: s.filter, q: s.qos, nl: s.noLocal, rap: s.retainAsPublished, rh: s.retainHandling, ...(s.subscriptionId !== undefined ? { id: s.subscriptionId } : {}) })),
    inflight: [...session.inflight.values()].map((f) => ({ ...delivery(f, now, idOf), id: f.packetId, st: f.state })),
    queue: [],
    incomingQos2: [],
  };
  for (let id = 1; id <= 65_535 && snap.incomingQos2.length < session.incomingQos2Count; id++) if (session.hasIncomingQos2(id)) snap.incomingQos2.push(id);
  let size = JSON.stringify(snap).length;
  for (const d of session.queue) {
    const w = delivery(d, now, idOf);
    const n = JSON.stringify(w).length + 1;
    if (size + n > maxBytes) {
      if (countDrops) core.metrics.count('dropped_queue_full');
      continue;
    }
    size += n;
    snap.queue.push(w);
  }
  return snap;
}

/**
 * A session as the JetStream KV bucket `<cluster>_sessions` keeps it: written by its edge on every
 * change (debounced), so another edge can resume it, and fire its will once, when that edge dies.
 */
export interface StoredSession extends SessionSnapshot {
  /** Liveness key of the edge holding it; '' once parked by an edge that stopped gracefully. */
  owner: string;
  principal: Principal;
  /** A client was connected when it was written: if its edge dies, the connection ended then. */
  online: boolean;
  /** Offline: when the session ends. */
  expiresAtMs?: number;
  /** The will, authorized for publishing when written (`d` Will Delay, `x` its Message Expiry). */
  will?: { m: WireMessage; d: number; x?: number };
  /** Offline: when the will is due. */
  willAtMs?: number;
}

/**
 * The ACL of a session adopted from a dead edge until its client comes back (with its own ACL):
 * it may publish its will (authorized when written) and nothing else.
 */
export function adoptedAcl(willTopic: string | undefined): TopicAuthorizer {
  return {
    checkPublish: (topic) => (topic === willTopic ? 'allow' : 'deny'),
    checkSubscribe: () => 'deny',
    mayReceive: () => false,
    authorizePublish: async (topic) => topic === willTopic,
    authorizeSubscribe: async (filters) => filters.map(() => false),
  };
}

/** Installs a snapshot as an offline session of this edge (the CONNECT that asked for it resumes it). */
export function installSession(core: BrokerCore, principal: Principal, clientId: string, acl: TopicAuthorizer, snap: SessionSnapshot): Session {
  const now = core.clock.nowMs();
  const session = new Session(`${principal.account}\u0000${clientId}`, clientId, principal, acl, core.tallyOf(principal.account));
  session.expiryIntervalSeconds = snap.expirySeconds;
  // Offline until the CONNECT completes; expires like any offline session if it never does.
  session.expiresAtMs = now + snap.expirySeconds * 1000;
  core.sessions.set(session.key, session);
  for (const s of snap.subscriptions) {
    const shared = parseSharedFilter(s.f);
    core.subscribe(session, shared ? shared.filter : s.f, { owner: session, filter: s.f, qos: s.q, noLocal: s.nl, retainAsPublished: s.rap, retainHandling: s.rh, subscriptionId: s.id, group: shared?.group });
  }
  for (const f of snap.inflight) {
    session.setInflight({ message: fromWire(f.m, now), qos: f.q, retain: f.r, subscriptionIds: f.s, packetId: f.id!, state: f.st ?? 'publish' });
  }
  for (const d of snap.queue) session.enqueue({ message: fromWire(d.m, now), qos: d.q, retain: d.r, subscriptionIds: d.s });
  for (const id of snap.incomingQos2) session.addIncomingQos2(id);
  return session;
}

/**
 * Adds what the old edge queued while the session moved (`rest`, its in-flight ones first) after
 * the `before` deliveries the first snapshot brought, ahead of what reached this edge directly
 * meanwhile; a message this edge got both ways (same frame id) is kept once [MQTT-4.3.3].
 */
export function mergeMoved(core: BrokerCore, session: Session, before: number, rest: SessionSnapshot, idOf: FrameIdOf): number {
  const now = core.clock.nowMs();
  const have = new Set<string>();
  for (const d of [...session.inflight.values(), ...session.queue]) {
    const id = idOf(d.message);
    if (id !== undefined) have.add(id);
  }
  const moved: Delivery[] = [];
  for (const d of [...rest.inflight, ...rest.queue]) {
    if (d.i !== undefined && have.has(d.i)) continue;
    moved.push({ message: fromWire(d.m, now), qos: d.q, retain: d.r, subscriptionIds: d.s });
  }
  if (moved.length > 0) {
    const queue = session.queue;
    session.clearQueue();
    for (const d of [...queue.slice(0, before), ...moved, ...queue.slice(before)]) session.enqueue(d);
  }
  return moved.length;
}

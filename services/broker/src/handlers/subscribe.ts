/**
 * SUBSCRIBE: validate each filter, authorize each (sync fast path; one batched async call for
 * the filters it cannot answer), add the granted ones, SUBACK, then retained messages.
 */
import type { ISubscribePacket } from 'mqtt-packet';
import { checkTopicFilter, parseSharedFilter } from '#libs/topics/topic-filter.ts';
import type { Connection } from '../connection.ts';
import type { Subscription } from '#libs/topics/topic-tree.ts';
import { RC, v3SubackCode } from '../domain/reason-codes.ts';
import type { Session } from '../session.ts';
import { encodeSuback } from '../publish-codec.ts';

/**
 * A SUBSCRIBE as the framer hands it over: when it named more filters than the cap, only the
 * first `maxFiltersPerSubscribe` were parsed and `filtersBeyondCap` counts the rest
 * (connection.ts, domain/subscribe-frame.ts); each of those is answered 0x97 (v3.1.1 0x80).
 */
export type SubscribePacket = ISubscribePacket & { filtersBeyondCap?: number };

interface Entry {
  filter: string;
  /** The filter the trie and the ACL see (inner filter for `$share/g/f`). */
  levels: string;
  group: string | undefined;
  qos: 0 | 1 | 2;
  nl: boolean;
  rap: boolean;
  rh: number;
  /** Reason code so far; undefined = still to authorize. */
  code: number | undefined;
  /** Granted overlapping a deny rule: deliveries are checked (ACL `allow-filtered`). */
  filtered?: boolean;
}

export function handleSubscribe(conn: Connection, packet: SubscribePacket): void | Promise<void> {
  const session = conn.session!;
  const subId = packet.properties?.subscriptionIdentifier;
  // [MQTT-3.8.2-?] Subscription Identifier 0 is a protocol error.
  if (subId === 0) return conn.disconnect(RC.protocolError);
  const entries: Entry[] = [];
  const unknown: Entry[] = [];
  const maxFilters = conn.broker.options.maxFiltersPerSubscribe;
  const subscriptions = packet.subscriptions;
  for (let k = 0; k < subscriptions.length; k++) {
    const s = subscriptions[k]!;
    if (k >= maxFilters) {
      // Beyond the cap nothing is looked at: each gets 0x97 Quota exceeded (v3.1.1 0x80), so one
      // packet of 100,000 filters costs no trie, ACL or retained work [MQTT-3.9.3-1: one code each].
      entries.push({ filter: s.topic, levels: s.topic, group: undefined, qos: 0, nl: false, rap: false, rh: 0, code: RC.quotaExceeded });
      continue;
    }
    const shared = parseSharedFilter(s.topic);
    const e: Entry = {
      filter: s.topic,
      levels: shared ? shared.filter : s.topic,
      group: shared?.group,
      qos: s.qos,
      nl: s.nl ?? false,
      rap: s.rap ?? false,
      rh: s.rh ?? 0,
      code: undefined,
    };
    entries.push(e);
    // [MQTT-3.8.3-1] a valid filter; [MQTT-4.7.3-?] wildcards only as whole levels.
    if (checkTopicFilter(s.topic) !== null || s.topic.includes('\uFFFD')) {
      e.code = RC.topicFilterInvalid;
      continue;
    }
    // [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error.
    if (e.group !== undefined && e.nl) return conn.disconnect(RC.protocolError);
    const decision = session.principal.superuser ? 'allow' : session.acl.checkSubscribe(e.levels);
    if (decision === 'allow') e.code = e.qos;
    else if (decision === 'allow-filtered') {
      e.code = e.qos;
      e.filtered = true;
    }    else if (decision === 'deny') e.code = RC.notAuthorized;
    else unknown.push(e);
  }
  if (unknown.length === 0) return finish(conn, packet, entries, subId);
  return session.acl.authorizeSubscribe(unknown.map((e) => e.levels)).then(
    (answers) => {
      unknown.forEach((e, i) => (e.code = answers[i] ? e.qos : RC.notAuthorized));
      finish(conn, packet, entries, subId);
    },
    () => {
      conn.broker.metrics.count('authz_unavailable');
      for (const e of unknown) e.code = RC.unspecified;
      finish(conn, packet, entries, subId);
    },
  );
}

function finish(conn: Connection, packet: SubscribePacket, entries: Entry[], subId: number | undefined): void {
  if (conn.closed) return;
  const broker = conn.broker;
  const session = conn.session!;
  const retainedToSend: Array<{ entry: Entry; sub: Subscription<Session> }> = [];
  const maxSubscriptions = broker.options.maxSubscriptionsPerSession;
  for (const e of entries) {
    if (e.code === RC.notAuthorized) {
      broker.metrics.count('subscribe_denied');
      session.tally.denied++;
      broker.reportDenial(session, 'subscribe', e.levels);
    }
    if (e.code === undefined || e.code >= 0x80) {
      if (e.code === RC.quotaExceeded) broker.metrics.count('subscribe_quota_exceeded');
      continue;
    }
    if (session.subscriptions.size >= maxSubscriptions && !session.subscriptions.has(e.filter)) {
      broker.metrics.count('subscribe_quota_exceeded');
      e.code = RC.quotaExceeded;
      continue;
    }
    const sub: Subscription<Session> = {
      owner: session,
      filter: e.filter,
      qos: e.qos,
      noLocal: e.nl,
      retainAsPublished: e.rap,
      retainHandling: e.rh,
      subscriptionId: subId,
      group: e.group,
      ...(e.filtered ? { filtered: true } : {}),
    };
    const existed = broker.subscribe(session, e.levels, sub);
    // [MQTT-3.3.1-9/10/11] Retain Handling 0: always; 1: only if new; 2: never. None for shared.
    if (e.group === undefined && (e.rh === 0 || (e.rh === 1 && !existed))) retainedToSend.push({ entry: e, sub });
  }
  const beyondCap = packet.filtersBeyondCap ?? 0;
  if (beyondCap > 0) broker.metrics.count('subscribe_quota_exceeded', beyondCap);
  const v5 = conn.protocolVersion === 5;
  const granted = entries.map((e) => (v5 ? e.code! : v3SubackCode(e.code!)));
  const refusedCode = v5 ? RC.quotaExceeded : v3SubackCode(RC.quotaExceeded);
  conn.write(encodeSuback(packet.messageId!, granted, beyondCap, refusedCode, v5));
  // Retained messages follow the SUBACK, paced by the session pump (broker-core.ts sendRetained).
  for (const { entry, sub } of retainedToSend) broker.sendRetained(session, entry.levels, sub);
  if (retainedToSend.length > 0) broker.pump(session);
}

/**
 * Delivery to one member of a shared group after NATS picked this edge for it (its queue group
 * for the account, group and filter) [MQTT-4.8.2]: round-robin among this edge's members,
 * preferring one that is online, as local routing does.
 */
import { topicMatches } from '#libs/topics/topic-filter.ts';
import { mayReceiveThrough, type BrokerCore } from '../broker-core.ts';
import type { Message, Session } from '../session.ts';
import type { Subscription } from '#libs/topics/topic-tree.ts';

export function deliverShared(core: BrokerCore, account: string, levelsFilter: string, group: string, message: Message): boolean {
  // NATS `>` / `*` also carry `$` topics, which a leading wildcard must not match [MQTT-4.7.2-1].
  if (!topicMatches(levelsFilter, message.topic)) return false;
  const g = core.tree(account).sharedGroup(levelsFilter, group);
  return g !== undefined && deliverToOne(core, g.members, g, message);
}

/** Every shared group of this edge matching the message gets it once (a message that could not cross). */
export function deliverLocalShared(core: BrokerCore, account: string, message: Message): void {
  core.tree(account).match(message.topic, () => {}, (members, cursor) => void deliverToOne(core, members, cursor, message));
}

function deliverToOne(core: BrokerCore, members: Subscription<Session>[], cursor: { next: number }, message: Message): boolean {
  const n = members.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const idx = (cursor.next + i) % n;
    const sub = members[idx]!;
    // A member granted overlapping a deny rule gets only what its ACL lets it receive, as locally.
    if (sub.filtered === true && !mayReceiveThrough(sub, message.topic)) continue;
    if (sub.owner.connection?.connected || i === n - 1) {
      cursor.next = (idx + 1) % n;
      core.deliver(sub.owner, {
        message,
        qos: (message.qos < sub.qos ? message.qos : sub.qos) as 0 | 1 | 2,
        // [MQTT-3.3.1-12/13] Retain As Published
        retain: sub.retainAsPublished && message.retain,
        subscriptionIds: sub.subscriptionId !== undefined ? [sub.subscriptionId] : undefined,
      });
      return true;
    }
  }
  return false;
}

import { topicMatches } from '#libs/topics/topic-filter.ts';
import type { Message } from '../session.ts';
import { ownPayload } from './own-payload.ts';

/**
 * The retained messages of every account on this edge: one map per account, topic → message, in
 * insertion order (a topic set again moves to the end). Each stored message gets a sequence number,
 * so a retained cursor opened at SUBSCRIBE skips what was stored after it (that was routed live).
 * The cap is asked of `capOf` only when a new topic would be added.
 */
export class RetainedStore {
  readonly #byAccount = new Map<string, Map<string, Message>>();
  readonly #capOf: (account: string) => number;
  #seq = 0;

  constructor(capOf: (account: string) => number) {
    this.#capOf = capOf;
  }

  /** The sequence number of the last message stored (a cursor's `untilSeq`). */
  get seq(): number {
    return this.#seq;
  }

  /** The account's store (topic → message), if it holds any. */
  of(account: string): Map<string, Message> | undefined {
    return this.#byAccount.get(account);
  }

  /** [MQTT-3.3.1-6/7] an empty payload deletes the topic's retained message. */
  delete(account: string, topic: string): void {
    const store = this.#byAccount.get(account);
    store?.delete(topic);
    if (store && store.size === 0) this.#byAccount.delete(account);
  }

  /** [MQTT-3.3.1-5] stores `message`; false (nothing stored) when it would add a topic over the account's cap. */
  put(account: string, message: Message): boolean {
    let store = this.#byAccount.get(account);
    if (!store) {
      store = new Map();
      this.#byAccount.set(account, store);
    }
    if (!store.has(message.topic) && store.size >= this.#capOf(account)) return false;
    ownPayload(message);
    message.retainedSeq = ++this.#seq;
    // Re-inserted at the end, so a cursor that passed the topic's old position still finds it
    // (and skips it by sequence: it was routed live).
    store.delete(message.topic);
    store.set(message.topic, message);
    return true;
  }

  /** Would storing a message on `topic` be refused for the account's cap? */
  isFull(account: string, topic: string): boolean {
    const store = this.#byAccount.get(account);
    return store !== undefined && store.size >= this.#capOf(account) && !store.has(topic);
  }

  /** Retained messages matching `filter`, expired ones removed (admin and tests; delivery uses cursors). */
  *matching(account: string, filter: string, now: number): Iterable<Message> {
    const store = this.#byAccount.get(account);
    if (!store) return;
    for (const message of store.values()) {
      if (message.expiresAtMs !== undefined && message.expiresAtMs <= now) {
        store.delete(message.topic);
        continue;
      }
      if (topicMatches(filter, message.topic)) yield message;
    }
  }
}

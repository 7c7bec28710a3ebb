/**
 * Topic aliases the broker assigns on the PUBLISH packets it sends to one v5 client: after the
 * first PUBLISH on a topic carries the topic and an alias, the next ones carry the alias and an
 * empty topic. Bounded: never more aliases than the client's Topic Alias Maximum (nor our own cap)
 * [MQTT-3.1.2-29]; when all are in use, the least recently used one is mapped to the new topic,
 * which the spec allows by sending the alias again with a topic [MQTT-3.3.2-12 … 3.3.2.3.4].
 * One per connection, never carried to the next one [MQTT-3.3.2-7]; allocated on the first
 * PUBLISH to a client that asked for aliases, so idle connections hold none.
 */
export class OutboundTopicAliases {
  readonly #maximum: number;
  /** topic → alias, least recently used first (Map keeps insertion order). */
  readonly #byTopic = new Map<string, number>();

  constructor(maximum: number) {
    this.#maximum = maximum;
  }

  /** The alias `topic` is mapped to on this connection, or 0. */
  lookup(topic: string): number {
    return this.#byTopic.get(topic) ?? 0;
  }

  /** The alias a new topic would get: the next unused one, else the least recently used. */
  next(): number {
    if (this.#byTopic.size < this.#maximum) return this.#byTopic.size + 1;
    return this.#byTopic.values().next().value!;
  }

  /**
   * Records what was sent: `topic` now maps to `alias` (replacing whatever the alias meant), and
   * is the most recently used. Called only once the PUBLISH is written.
   */
  sent(topic: string, alias: number): void {
    const current = this.#byTopic.get(topic);
    if (current === alias) {
      this.#byTopic.delete(topic);
      this.#byTopic.set(topic, alias);
      return;
    }
    if (this.#byTopic.size >= this.#maximum) {
      // The alias is being re-mapped: the topic it meant is no longer aliased.
      for (const [t, a] of this.#byTopic) {
        if (a === alias) {
          this.#byTopic.delete(t);
          break;
        }
      }
    }
    this.#byTopic.set(topic, alias);
  }

  get size(): number {
    return this.#byTopic.size;
  }
}

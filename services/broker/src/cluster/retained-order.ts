/**
 * Orders the retained bucket's watch against this edge's own writes to it.
 *
 * An edge applies a retained PUBLISH to its own store at once and writes it to the bucket after;
 * the watch then brings the write back, and any other edge's write of the same key, in the
 * bucket's order. Applied blindly, the echo of an older write undoes a newer one made here
 * meanwhile (a retained message deleted right after it was stored shows up again until the
 * delete's echo comes): a subscriber gets a message already deleted, and a per-account cap counts
 * a topic that is gone. So, per key:
 *
 * - while a write of the key is pending or in flight here, what the watch brings for it is held
 *   (the newest only): this edge's value stands until its write is acknowledged;
 * - when the write is acknowledged at revision `r`, a held entry newer than `r` (another edge wrote
 *   after this one) is applied; anything at or before `r` was superseded by this edge's write;
 * - until the watch passes `r`, entries at or before it (this edge's own echo, or older writes that
 *   the watch delivers late) are skipped.
 *
 * The edge's value thus follows the bucket's last value, never going back to an older one. State
 * is kept only for keys whose write was not yet seen back on the watch.
 */
export interface RevisionEntry {
  /** The bucket's revision (its stream sequence) of this value. */
  readonly revision: number;
}

export class RetainedOrder<E extends RevisionEntry> {
  /** Keys written here whose echo the watch has not delivered yet: the acknowledged write's revision. */
  readonly #acked = new Map<string, number>();
  /** The newest entry the watch delivered for a key while this edge was writing it. */
  readonly #held = new Map<string, E>();

  /**
   * The watch delivered `entry` for `key`; `writing`: a write of the key is pending or in flight
   * on this edge. Returns whether to apply the entry to the local store now.
   */
  admit(key: string, entry: E, writing: boolean): boolean {
    const acked = this.#acked.get(key);
    if (acked !== undefined) {
      if (entry.revision < acked) return false;
      // At `acked`: this edge's own write, which its store already holds; the watch has passed it.
      this.#acked.delete(key);
      if (entry.revision === acked) return false;
    }
    if (writing) {
      this.#held.set(key, entry);
      return false;
    }
    return true;
  }

  /**
   * A write of `key` finished: acknowledged at `revision`, or not written (`undefined`: refused,
   * so this edge's value stays its own). `writing`: another write of the key is still pending or
   * in flight. Returns a held entry to apply now: one written by another edge after this one.
   */
  settled(key: string, revision: number | undefined, writing: boolean): E | undefined {
    const held = this.#held.get(key);
    if (revision === undefined) {
      if (writing || held === undefined) return undefined;
      this.#held.delete(key);
      return held;
    }
    if (held === undefined || held.revision < revision) {
      // The watch has not brought this write back yet: skip what comes up to it.
      this.#held.delete(key);
      const acked = this.#acked.get(key);
      if (acked === undefined || acked < revision) this.#acked.set(key, revision);
      return undefined;
    }
    if (held.revision === revision) {
      // Its own echo came first: nothing newer yet, and nothing older will come.
      this.#held.delete(key);
      return undefined;
    }
    // Another edge wrote after this one: its value is the bucket's, unless this edge writes again.
    if (writing) return undefined;
    this.#held.delete(key);
    return held;
  }

  /** The watch starts again (reconnected): it replays every key's last value. */
  reset(): void {
    this.#acked.clear();
    this.#held.clear();
  }

  /** Keys with state (tests: nothing is kept once the watch passed a key's writes). */
  get size(): number {
    return this.#acked.size + this.#held.size;
  }
}

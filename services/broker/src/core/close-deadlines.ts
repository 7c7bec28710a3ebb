/**
 * Connections the broker ended, destroyed if their peer has not finished closing within
 * `graceMs`. One timer serves them all (every deadline is "now + graceMs", so they come due in the
 * order they were added): no Node `Timeout` — an object, an async id, a timer-list entry, and a
 * clear — per closed connection. A connection whose stream closes in time empties its place, so
 * nothing of it is kept until the deadline.
 */
export class CloseDeadlines {
  readonly #graceMs: number;
  /** Pending connections, oldest first; `undefined` once closed in time. */
  #streams: ({ destroy(): void } | undefined)[] = [];
  #dueMs: number[] = [];
  /** The ticket of `#streams[0]` (tickets only grow). */
  #first = 0;
  /** Entries not yet cancelled or expired. */
  #live = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(graceMs: number) {
    this.#graceMs = graceMs;
  }

  /** Destroys `stream` after the grace period unless `cancel(ticket)` comes first. */
  add(stream: { destroy(): void }): number {
    const ticket = this.#first + this.#streams.length;
    this.#streams.push(stream);
    this.#dueMs.push(Date.now() + this.#graceMs);
    this.#live++;
    if (this.#timer === undefined) this.#arm(this.#graceMs);
    return ticket;
  }

  cancel(ticket: number): void {
    const i = ticket - this.#first;
    if (i >= 0 && i < this.#streams.length && this.#streams[i] !== undefined) {
      this.#streams[i] = undefined;
      this.#live--;
    }
  }

  #arm(ms: number): void {
    const t = setTimeout(this.#expire, ms);
    t.unref?.();
    this.#timer = t;
  }

  readonly #expire = (): void => {
    this.#timer = undefined;
    // The wall clock (Date.now() is a fraction of what performance.now() costs per add): a
    // deadline further away than the grace period means the clock went back, and counts as due.
    const now = Date.now();
    const latest = now + this.#graceMs;
    const streams = this.#streams;
    const due = this.#dueMs;
    let n = 0;
    while (n < streams.length && (due[n]! <= now || due[n]! > latest)) n++;
    const expired = streams.splice(0, n);
    due.splice(0, n);
    this.#first += n;
    for (const stream of expired) if (stream !== undefined) this.#live--;
    // Everything still pending was closed in time: start over (no ticket can refer to it).
    if (this.#live === 0) {
      this.#first += streams.length;
      streams.length = 0;
      due.length = 0;
    } else {
      this.#arm(Math.min(this.#graceMs, Math.max(1, due[0]! - now)));
    }
    for (const stream of expired) {
      try {
        stream?.destroy();
      } catch {
        // One stream failing to close must not keep the others open.
      }
    }
  };
}

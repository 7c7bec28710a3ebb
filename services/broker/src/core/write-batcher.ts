import type { Connection } from '../connection.ts';

/**
 * Write batching: a connection with bytes buffered marks itself dirty; every dirty connection is
 * flushed once, together, on the next turn of the event loop (one socket write per turn).
 */
export class WriteBatcher {
  #dirty: Connection[] = [];
  #flushScheduled = false;

  markDirty(conn: Connection): void {
    this.#dirty.push(conn);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flushAll);
    }
  }

  readonly #flushAll = (): void => {
    this.#flushScheduled = false;
    const dirty = this.#dirty;
    this.#dirty = [];
    for (const conn of dirty) conn.flush();
  };
}

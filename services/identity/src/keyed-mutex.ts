/**
 * Runs async sections one at a time per key, in arrival order. Identity serializes the
 * read-decide-write of a username's login (throttle counters, the TOTP replay guard) with it, so a
 * burst of parallel guesses cannot all read the same "no failures yet" state. In one process only:
 * across replicas the TOTP step is guarded by a compare-and-set in the store as well.
 */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>();

  async run<T>(key: string, section: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    this.#tails.set(key, tail);
    await previous;
    try {
      return await section();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** Keys with a section running or waiting (for tests). */
  get size(): number {
    return this.#tails.size;
  }
}

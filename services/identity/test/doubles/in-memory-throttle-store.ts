import type { AttemptState } from '../../src/domain/login-throttle.ts';
import type { ThrottleStore } from '../../src/domain/ports.ts';

/** `ThrottleStore` in a map, for unit tests and the contract suite. */
export class InMemoryThrottleStore implements ThrottleStore {
  readonly #states = new Map<string, AttemptState>();

  async get(key: string): Promise<AttemptState | undefined> {
    const state = this.#states.get(key);
    return state && { ...state };
  }

  async put(key: string, state: AttemptState | undefined): Promise<void> {
    if (state) this.#states.set(key, { ...state });
    else this.#states.delete(key);
  }

  async countLive(prefix: string, exceptKey: string, sinceMs: number, nowMs: number): Promise<number> {
    let live = 0;
    for (const [key, s] of this.#states) {
      if (key.startsWith(prefix) && key !== exceptKey && (s.lastFailureAtMs >= sinceMs || (s.lockedUntilMs !== null && s.lockedUntilMs > nowMs))) live++;
    }
    return live;
  }

  async clear(keys: readonly string[], prefixes: readonly string[], nowMs: number): Promise<string[]> {
    const lockedOut: string[] = [];
    for (const [key, s] of [...this.#states]) {
      if (!keys.includes(key) && !prefixes.some((p) => key.startsWith(p))) continue;
      this.#states.delete(key);
      if (s.lockedUntilMs !== null && s.lockedUntilMs > nowMs) lockedOut.push(key);
    }
    return lockedOut;
  }
}

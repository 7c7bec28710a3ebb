/** Fakes for the domain's ports, shared by the unit tests. Not for production use. */
import type { Clock, RandomSource, SecretDigest } from '../../src/domain/ports.ts';

export class FakeClock implements Clock {
  #nowMs: number;
  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#nowMs = startMs;
  }
  nowMs(): number {
    return this.#nowMs;
  }
  advance(ms: number): void {
    this.#nowMs += ms;
  }
  set(ms: number): void {
    this.#nowMs = ms;
  }
}

/** Deterministic, distinct bytes (xorshift32); never use outside tests. */
export class SeededRandom implements RandomSource {
  #state: number;
  constructor(seed = 0x9e3779b9) {
    this.#state = seed >>> 0 || 1;
  }
  bytes(size: number): Uint8Array {
    const out = new Uint8Array(size);
    for (let i = 0; i < size; i++) {
      let x = this.#state;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.#state = x >>> 0;
      out[i] = this.#state & 0xff;
    }
    return out;
  }
}

/** Not a hash: reversible and readable in test output (`sha256(<text>)`). */
export class FakeDigest implements SecretDigest {
  sha256Hex(text: string): string {
    return `sha256(${text})`;
  }
}

/**
 * Connections per peer address that have not been answered a CONNACK yet: what one address can
 * make the edge hold before authenticating is bounded, whatever it sends (or does not).
 */
export class PendingConnects {
  readonly #byIp = new Map<string, number>();
  readonly #maxPerIp: number;

  constructor(maxPerIp: number) {
    this.#maxPerIp = maxPerIp;
  }

  /** Takes a place for `peerIp`, or answers false when the address already holds `maxPerIp`. */
  admit(peerIp: string): boolean {
    const n = this.#byIp.get(peerIp) ?? 0;
    if (n >= this.#maxPerIp) return false;
    this.#byIp.set(peerIp, n + 1);
    return true;
  }

  /** Gives a place back (a no-op when the address holds none). */
  settle(peerIp: string): void {
    const n = this.#byIp.get(peerIp);
    if (n === undefined) return;
    if (n <= 1) this.#byIp.delete(peerIp);
    else this.#byIp.set(peerIp, n - 1);
  }
}

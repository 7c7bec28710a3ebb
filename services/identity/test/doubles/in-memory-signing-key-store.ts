import type { SigningKeyStore, StoredSigningKey } from '../../src/crypto/signing-key-ring.ts';

/** SigningKeyStore in a map: unit tests and benchmarks. */
export class InMemorySigningKeyStore implements SigningKeyStore {
  readonly keys = new Map<string, StoredSigningKey>();
  async list(): Promise<StoredSigningKey[]> {
    return [...this.keys.values()].sort((a, b) => a.createdAtMs - b.createdAtMs).map((key) => ({ ...key }));
  }
  async insert(key: StoredSigningKey): Promise<void> {
    if (this.keys.has(key.kid)) throw new Error(`signing key ${key.kid} already exists`);
    this.keys.set(key.kid, { ...key });
  }
  async retire(kid: string, atMs: number): Promise<void> {
    const key = this.keys.get(kid);
    if (key && key.retiredAtMs === null) key.retiredAtMs = atMs;
  }
  async delete(kid: string): Promise<void> {
    this.keys.delete(kid);
  }
}

/**
 * In-memory `RefreshTokenStore` for unit tests and the contract suite (`../contracts/`).
 */
import type { RefreshTokenFamily, RefreshTokenRecord, RefreshTokenStore, RevokeReason } from '../../src/domain/refresh-tokens.ts';

export class InMemoryRefreshTokenStore implements RefreshTokenStore {
  readonly #families = new Map<string, RefreshTokenFamily>();
  readonly #tokens = new Map<string, RefreshTokenRecord>();

  async createFamily(family: RefreshTokenFamily): Promise<void> {
    if (this.#families.has(family.id)) throw new Error(`family ${family.id} already exists`);
    this.#families.set(family.id, { ...family });
  }

  async getFamily(familyId: string): Promise<RefreshTokenFamily | undefined> {
    const family = this.#families.get(familyId);
    return family && { ...family };
  }

  async insertToken(token: RefreshTokenRecord): Promise<void> {
    if (this.#tokens.has(token.tokenHash)) throw new Error('token hash already exists');
    this.#tokens.set(token.tokenHash, { ...token });
  }

  async findToken(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    const token = this.#tokens.get(tokenHash);
    return token && { ...token };
  }

  async markUsed(tokenHash: string, usedAtMs: number): Promise<boolean> {
    const token = this.#tokens.get(tokenHash);
    if (token === undefined || token.usedAtMs !== null) return false;
    token.usedAtMs = usedAtMs;
    return true;
  }

  async revokeFamily(familyId: string, atMs: number, reason: RevokeReason): Promise<boolean> {
    const family = this.#families.get(familyId);
    if (family === undefined || family.revokedAtMs !== null) return false;
    family.revokedAtMs = atMs;
    family.revokeReason = reason;
    return true;
  }

  async revokeFamiliesOfUser(userId: string, atMs: number, reason: RevokeReason): Promise<string[]> {
    const revoked: string[] = [];
    for (const family of this.#families.values()) {
      if (family.userId === userId && family.revokedAtMs === null && (await this.revokeFamily(family.id, atMs, reason))) revoked.push(family.id);
    }
    return revoked;
  }
}

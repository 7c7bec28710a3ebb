import type { TotpStore } from '../../src/domain/ports.ts';
import type { TotpEnrollment } from '../../src/domain/two-factor.ts';

const copy = (e: TotpEnrollment): TotpEnrollment => ({ ...e, recoveryCodeHashes: [...e.recoveryCodeHashes] });

/** `TotpStore` in a map (the secret unsealed: there is no disk), for unit tests and the contract suite. */
export class InMemoryTotpStore implements TotpStore {
  readonly #enrollments = new Map<string, TotpEnrollment>();

  async get(userId: string): Promise<TotpEnrollment | undefined> {
    const e = this.#enrollments.get(userId);
    return e && copy(e);
  }

  async put(userId: string, enrollment: TotpEnrollment): Promise<void> {
    this.#enrollments.set(userId, copy(enrollment));
  }

  async advance(userId: string, before: TotpEnrollment, after: TotpEnrollment): Promise<boolean> {
    const e = this.#enrollments.get(userId);
    if (!e || e.status !== 'active' || e.lastUsedStep !== before.lastUsedStep || JSON.stringify(e.recoveryCodeHashes) !== JSON.stringify(before.recoveryCodeHashes)) return false;
    e.lastUsedStep = after.lastUsedStep;
    e.recoveryCodeHashes = [...after.recoveryCodeHashes];
    return true;
  }

  async delete(userId: string): Promise<void> {
    this.#enrollments.delete(userId);
  }

  async activeAmong(userIds: readonly string[]): Promise<Set<string>> {
    return new Set(userIds.filter((id) => this.#enrollments.get(id)?.status === 'active'));
  }
}

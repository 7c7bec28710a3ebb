import type { ShardRouter } from './clients/shard-router.ts';
import type { PathLevel } from './domain/path-level.ts';

type QuotaPeer = ReturnType<ShardRouter['peer']>;

/**
 * Which replica answers for an account or a slot, and the slot ids that say so. One owner per
 * account tree (see clients/shard-router.ts); a call already forwarded once is answered here,
 * never forwarded again. Without a router (one replica) everything is answered here.
 */
export function createShardPlacement(options: { router: ShardRouter | undefined; levels: (accountId: string) => Promise<PathLevel[]> }) {
  const { router, levels } = options;

  /** The owner replica of this account's tree, when it is another one (and this call was not forwarded already). */
  async function ownerElsewhere(accountId: string, forwarded: boolean): Promise<QuotaPeer | undefined> {
    if (!router || forwarded) return undefined;
    const path = await levels(accountId);
    const owner = router.ownerOf(path[0]!.accountId);
    return owner === router.self ? undefined : router.peer(owner);
  }

  /**
   * A slot (or block) id for this holder and metric. The owner's index leads the slot id, so
   * renewals and releases find their way back; the rest is the holder's, so a retried acquire or
   * a repeated resize replaces the slot or block instead of adding another.
   */
  function mintSlotId(holderId: string, metric: string): string {
    return `r${router?.self ?? 0}.${holderId}:${metric}`;
  }

  function slotOwner(slotId: string): number | undefined {
    const m = /^r(\d+)\./.exec(slotId);
    return m ? Number(m[1]) : undefined;
  }

  /** The replica holding this slot, when it is another one (and this call was not forwarded already). */
  function slotElsewhere(slotId: string, forwarded: boolean): QuotaPeer | undefined {
    const owner = slotOwner(slotId);
    return router && !forwarded && owner !== undefined && owner !== router.self ? router.peer(owner) : undefined;
  }

  /** Slot ids split into those held here and those held by each other replica. */
  function partitionSlots(slotIds: readonly string[], forwarded: boolean): { mine: string[]; elsewhere: Map<QuotaPeer, string[]> } {
    const mine: string[] = [];
    const byOwner = new Map<number, string[]>();
    for (const id of slotIds) {
      const owner = slotOwner(id);
      if (!router || forwarded || owner === undefined || owner === router.self) mine.push(id);
      else byOwner.set(owner, [...(byOwner.get(owner) ?? []), id]);
    }
    const elsewhere = new Map<QuotaPeer, string[]>();
    for (const [owner, ids] of byOwner) elsewhere.set(router!.peer(owner), ids);
    return { mine, elsewhere };
  }

  return { ownerElsewhere, mintSlotId, slotElsewhere, partitionSlots };
}

export type ShardPlacement = ReturnType<typeof createShardPlacement>;

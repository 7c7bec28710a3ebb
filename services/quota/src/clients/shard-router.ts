import { createHash } from 'node:crypto';
import { AppError } from '#libs/errors/index.ts';
import { createRpcClient, type CallContext, type RpcClientTlsConfig, type ServiceClient } from '#libs/rpc/index.ts';
import type { Logger } from '#libs/telemetry/index.ts';
import { QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';

/** Metadata a replica adds to a call it forwards: the call is decided where it lands, never forwarded again. */
export const FORWARDED_HEADER = 'x-tollgate-forwarded';
/** Metadata a replica adds to a call it forwards: the digest of its replica list, which the receiver must share. */
export const REPLICAS_DIGEST_HEADER = 'x-tollgate-quota-replicas';

/**
 * Several quota replicas, one owner per account tree: the root account id hashed (SHA-256, stable
 * across processes and restarts) picks the replica whose memory holds that tree's buckets and slots.
 * Any replica accepts a request and forwards it to the owner once (never further), so N replicas
 * never each grant the full limit. All replicas must be configured with the same ordered list: two
 * replicas that disagree would each think they own some trees (every limit doubled there), so every
 * forwarded call carries the sender's list digest and a receiver with another list refuses it.
 */
export interface ShardRouter {
  /** Index of the replica that owns this root account. */
  ownerOf(rootAccountId: string): number;
  readonly self: number;
  /** A client to another replica (service credential and list digest attached). */
  peer(index: number): ServiceClient<typeof QuotaService>;
  /** Asks every other replica that answers within `timeoutMs` whether it has the same list; throws FAILED_PRECONDITION if one has not. */
  verifyPeers(timeoutMs: number): Promise<void>;
  close(): void;
}

export function ownerIndex(rootAccountId: string, replicas: number): number {
  if (replicas <= 1) return 0;
  return createHash('sha256').update(rootAccountId).digest().readUInt32BE(0) % replicas;
}

/** A short digest of the ordered replica list (order decides ownership, so it is part of it). */
export function replicaListDigest(addresses: readonly string[]): string {
  return createHash('sha256').update(addresses.join(',')).digest('hex').slice(0, 16);
}

export interface ReplicaOptions {
  addresses: () => readonly string[];
  self: number;
}

/**
 * Whether this call was forwarded by another replica (then it is decided here). A forwarded call
 * whose sender has another replica list — or reaches a replica configured alone — is refused with
 * FAILED_PRECONDITION naming both lists' digests: answering it would split one tree over two owners.
 */
export function isForwarded(ctx: CallContext, replicas: ReplicaOptions | undefined): boolean {
  if (!ctx.header(FORWARDED_HEADER)) return false;
  const theirs = ctx.header(REPLICAS_DIGEST_HEADER) ?? '(none)';
  const addresses = replicas?.addresses() ?? [];
  const ours = replicas ? replicaListDigest(addresses) : '(one replica: TOLLGATE_QUOTA_REPLICAS unset)';
  if (theirs !== ours) {
    throw new AppError(
      'FAILED_PRECONDITION',
      `quota replica lists differ: the calling replica's list has digest ${theirs}, this replica's (${replicas ? `${addresses.join(',')}, replica ${replicas.self}` : 'none'}) has ${ours} — set the same TOLLGATE_QUOTA_REPLICAS on every quota replica`,
      { reason: 'QUOTA_REPLICAS_DIFFER', details: { caller_digest: theirs, receiver_digest: ours } },
    );
  }
  return true;
}

export function createShardRouter(options: ReplicaOptions & { serviceCredential: string; tls?: RpcClientTlsConfig | undefined; logger?: Logger | undefined }): ShardRouter {
  const clients = new Map<number, ServiceClient<typeof QuotaService>>();
  const connect = (index: number) => {
    const address = options.addresses()[index];
    if (!address) throw new Error(`no quota replica ${index}`);
    return createRpcClient(QuotaService, address, {
      tls: options.tls,
      defaultDeadlineMs: 1_000,
      headers: { authorization: `Bearer ${options.serviceCredential}`, [FORWARDED_HEADER]: '1', [REPLICAS_DIGEST_HEADER]: replicaListDigest(options.addresses()) },
    });
  };
  const peer = (index: number) => {
    let client = clients.get(index);
    if (!client) clients.set(index, (client = connect(index)));
    return client;
  };
  return {
    self: options.self,
    ownerOf: (root) => ownerIndex(root, options.addresses().length),
    peer,
    async verifyPeers(timeoutMs) {
      const others = options.addresses().flatMap((address, i) => (i === options.self ? [] : [{ address, i }]));
      await Promise.all(
        others.map(async ({ address, i }) => {
          // An empty renewal is a forwarded call that changes nothing: the peer's digest check answers it.
          const probe = connect(i);
          try {
            await probe.renewSlots({ slotIds: [] }, { deadlineMs: timeoutMs });
          } catch (error) {
            if ((error as AppError).reason === 'QUOTA_REPLICAS_DIFFER') {
              throw new AppError('FAILED_PRECONDITION', `TOLLGATE_QUOTA_REPLICAS: quota replica ${i} (${address}) refused this replica's list: ${(error as Error).message}`, { field: 'TOLLGATE_QUOTA_REPLICAS', reason: 'QUOTA_REPLICAS_DIFFER' });
            }
            // Not up yet (replicas start in any order): it checks us when it starts, and every forwarded call is checked.
            options.logger?.info({ replica: i, address, err: error }, 'quota replica not reachable at start; list not compared');
          } finally {
            probe.close();
          }
        }),
      );
    },
    close() {
      for (const c of clients.values()) c.close();
      clients.clear();
    },
  };
}

import { createHash } from 'node:crypto';
import { createRpcClient, type RpcClientTlsConfig, type ServiceClient } from '#libs/rpc/index.ts';
import { QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';

/**
 * Several quota replicas, one owner per account tree: the root account id hashed (SHA-256, stable
 * across processes and restarts) picks the replica whose memory holds that tree's buckets and slots.
 * Any replica accepts a request and forwards it to the owner once (never further), so N replicas
 * never each grant the full limit. All replicas must be configured with the same ordered list.
 */
export interface ShardRouter {
  /** Index of the replica that owns this root account. */
  ownerOf(rootAccountId: string): number;
  readonly self: number;
  /** A client to another replica (service credential attached). */
  peer(index: number): ServiceClient<typeof QuotaService>;
  close(): void;
}

export function ownerIndex(rootAccountId: string, replicas: number): number {
  if (replicas <= 1) return 0;
  return createHash('sha256').update(rootAccountId).digest().readUInt32BE(0) % replicas;
}

export function createShardRouter(options: { addresses: () => readonly string[]; self: number; serviceCredential: string; tls?: RpcClientTlsConfig | undefined }): ShardRouter {
  const clients = new Map<number, ServiceClient<typeof QuotaService>>();
  return {
    self: options.self,
    ownerOf: (root) => ownerIndex(root, options.addresses().length),
    peer(index) {
      let client = clients.get(index);
      if (!client) {
        const address = options.addresses()[index];
        if (!address) throw new Error(`no quota replica ${index}`);
        client = createRpcClient(QuotaService, address, { tls: options.tls, defaultDeadlineMs: 1_000, headers: { authorization: `Bearer ${options.serviceCredential}`, 'x-tollgate-forwarded': '1' } });
        clients.set(index, client);
      }
      return client;
    },
    close() {
      for (const c of clients.values()) c.close();
      clients.clear();
    },
  };
}

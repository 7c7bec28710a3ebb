import { createRpcClient, type RpcClientTlsConfig, type ServiceClient } from '#libs/rpc/index.ts';
import { RateLimitService, type RateLimitRequest, type RateLimitResponse } from '#gen/envoy/service/ratelimit/v3/rls_pb.js';
import { FORWARDED_HEADER, ownerIndex, replicaListDigest, REPLICAS_DIGEST_HEADER } from './shard-router.ts';

/**
 * Envoy's ShouldRateLimit with several quota replicas: the request goes once to the replica that
 * owns the descriptors' account trees (shard-router.ts), as Consume does, marked as forwarded so
 * the owner decides it itself.
 */
export interface RateLimitForwarder {
  readonly self: number;
  ownerOf(rootAccountId: string): number;
  shouldRateLimit(owner: number, request: RateLimitRequest): Promise<RateLimitResponse>;
  close(): void;
}

export function createRateLimitForwarder(options: { addresses: () => readonly string[]; self: number; serviceCredential: string; tls?: RpcClientTlsConfig | undefined }): RateLimitForwarder {
  const clients = new Map<number, ServiceClient<typeof RateLimitService>>();
  return {
    self: options.self,
    ownerOf: (root) => ownerIndex(root, options.addresses().length),
    shouldRateLimit(owner, request) {
      let client = clients.get(owner);
      if (!client) {
        const address = options.addresses()[owner];
        if (!address) throw new Error(`no quota replica ${owner}`);
        client = createRpcClient(RateLimitService, address, { tls: options.tls, defaultDeadlineMs: 1_000, headers: { authorization: `Bearer ${options.serviceCredential}`, [FORWARDED_HEADER]: '1', [REPLICAS_DIGEST_HEADER]: replicaListDigest(options.addresses()) } });
        clients.set(owner, client);
      }
      return client.shouldRateLimit(request);
    },
    close() {
      for (const c of clients.values()) c.close();
      clients.clear();
    },
  };
}

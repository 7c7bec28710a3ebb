import type { Tracer } from '@opentelemetry/api';
import { createLazyClient, type PeerDirectory, type RpcClientTlsConfig } from '#libs/rpc/index.ts';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { AuthzService } from '#gen/tollgate/authz/v1/authz_pb.js';
import { BrokerAdminService } from '#gen/tollgate/broker/v1/broker_pb.js';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';

/**
 * The console's clients of the mesh. Every admin call goes out on the `caller` clients, which carry
 * no credential of their own: each call passes the caller's, so the services decide. Only login
 * (to name the browser's address for identity's per-IP throttle) uses the console's service
 * credential, on a separate client so it can never leak into an admin call.
 */
export function createConsolePeers(peers: PeerDirectory, tls: RpcClientTlsConfig | undefined, secretKey: Uint8Array, tracer?: Tracer) {
  const caller = {
    authz: createLazyClient(AuthzService, () => peers.address('authz'), { tls, tracer }),
    identity: createLazyClient(IdentityService, () => peers.address('identity'), { tls, tracer }),
    quota: createLazyClient(QuotaService, () => peers.address('quota'), { tls, tracer }),
    broker: createLazyClient(BrokerAdminService, () => peers.address('broker'), { tls, tracer }),
  };
  const serviceAuth = { authorization: `Bearer ${mintServiceCredential(secretKey, 'console')}` };
  const loginIdentity = createLazyClient(IdentityService, () => peers.address('identity'), { tls, tracer, headers: serviceAuth });
  return {
    ...caller,
    loginIdentity,
    close() {
      for (const client of [...Object.values(caller), loginIdentity]) client.close();
    },
  };
}

export type ConsolePeers = ReturnType<typeof createConsolePeers>;

import { peerIp, requireService } from '#libs/admin-auth/admin-guard.ts';
import { parseBearer } from '#libs/admin-auth/bearer-credential.ts';
import { isServiceCredential } from '#libs/admin-auth/service-credential.ts';
import type { CallContext } from '#libs/rpc/index.ts';
import { throttledAddress } from '../domain/throttled-address.ts';

/**
 * The service-credential path: only a mesh service (its credential verified here) may name the
 * client's address (`peer_ip`); any other caller is throttled under the socket's address.
 */
export function clientAddress(ctx: CallContext, claimed: string, secretKey: Uint8Array): string | null {
  const bearer = parseBearer(ctx.header('authorization')) ?? '';
  if (isServiceCredential(bearer)) {
    requireService(secretKey, ctx);
    return throttledAddress({ meshService: true, claimed });
  }
  return throttledAddress({ meshService: false, socketIp: peerIp(ctx.peer) });
}

import type { ServiceImpl } from '#libs/rpc/index.ts';
import type { AuthService } from '#gen/grpc/auth_pb.js';
import type { AuthzCore } from '../authz-core.ts';
import type { BrokerCredentials } from '../http/broker-credentials.ts';

/** mosquitto-go-auth's gRPC backend: the same answers as its HTTP backend (`/mosquitto/*`). */
export function goAuthGrpcHandlers(core: AuthzCore, credentials: BrokerCredentials): ServiceImpl<typeof AuthService> {
  return {
    async getUser(req) {
      if (!req.username) return { ok: false };
      return { ok: (await credentials.login(req.username, req.password, undefined)).allowed };
    },
    // No superusers: a superuser would skip ACL checks and with them the account boundary.
    getSuperuser: async () => ({ ok: false }),
    async checkAcl(req) {
      const credential = credentials.credentialOf(req.username);
      if (!credential || !req.topic || req.acc < 1 || req.acc > 4) return { ok: false };
      const actions: ('publish' | 'subscribe')[] = [];
      if (req.acc & 2) actions.push('publish');
      if (req.acc & 1 || req.acc & 4) actions.push('subscribe');
      for (const action of actions) {
        if (action === 'publish' && (req.topic.includes('+') || req.topic.includes('#'))) return { ok: false };
        const [d] = await core.authorize({ credential, action, resources: [`mqtt:${req.topic}`], clientId: req.clientid, peerIp: undefined, accountId: undefined, source: 'go-auth' });
        if (!d?.allowed) return { ok: false };
      }
      return { ok: true };
    },
    getName: async () => ({ name: 'tollgate' }),
    // go-auth calls Halt when mosquitto stops; there is nothing of ours to stop.
    halt: async () => ({}),
  };
}

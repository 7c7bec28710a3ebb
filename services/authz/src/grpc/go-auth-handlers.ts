import { invalidArgument } from '#libs/errors/index.ts';
import type { ServiceImpl } from '#libs/rpc/index.ts';
import type { AuthService } from '#gen/grpc/auth_pb.js';
import type { AuthzCore } from '../authz-core.ts';
import { createAdapterRefusals, MALFORMED_REQUEST } from '../adapter-refusals.ts';
import { actionOfAcc, createGoAuthAcl } from '../go-auth-acl.ts';
import type { BrokerCredentials } from '../http/broker-credentials.ts';
import type { SharedBrokerNamespace } from '../http/adapter-topic.ts';

const MAX_CREDENTIAL = 4_096;
const MAX_CLIENT_ID = 65_535;

/**
 * mosquitto-go-auth's gRPC backend (`grpc.AuthService`): the same answers as its HTTP backend
 * (`/mosquitto/*`). A "no" is `ok: false`; malformed input — a missing username, `acc` outside
 * 1-4, an empty or invalid topic, over-long strings — is `INVALID_ARGUMENT` naming the field. Both
 * are recorded as decisions (source `go-auth`). Topics are placed in an account per `namespace`
 * (`account-prefix` by default: `<account id>/<topic>`, adapter-topic.ts), as over HTTP.
 */
export function goAuthGrpcHandlers(core: AuthzCore, credentials: BrokerCredentials, options: { namespace?: SharedBrokerNamespace | undefined; subscribeOverlap?: 'filter' | 'refuse' | undefined } = {}): ServiceImpl<typeof AuthService> {
  const refusals = createAdapterRefusals(core);
  const decideAcl = createGoAuthAcl(core, options.namespace ?? 'account-prefix', options.subscribeOverlap ?? 'filter');
  const refuse = async (field: string, problem: string, refusal: Omit<Parameters<typeof refusals.record>[0], 'source' | 'reason'> & { reason?: string }) => {
    await refusals.record({ source: 'go-auth', reason: MALFORMED_REQUEST, ...refusal });
    return invalidArgument(field, problem);
  };

  return {
    async getUser(req) {
      const base = { action: 'connect', clientId: req.clientid };
      if (!req.username) throw await refuse('username', 'is required', { ...base, reason: 'CREDENTIAL_MISSING' });
      if (req.username.length > MAX_CREDENTIAL) throw await refuse('username', `must be at most ${MAX_CREDENTIAL} characters`, base);
      if (req.password.length > MAX_CREDENTIAL) throw await refuse('password', `must be at most ${MAX_CREDENTIAL} characters`, base);
      if (req.clientid.length > MAX_CLIENT_ID) throw await refuse('clientid', `must be at most ${MAX_CLIENT_ID} characters`, base);
      const outcome = await credentials.login(req.username, req.password, undefined, req.clientid || undefined);
      if (!outcome.allowed) await refusals.record({ source: 'go-auth', reason: outcome.reason, ...base });
      return { ok: outcome.allowed };
    },
    // No superusers: a superuser would skip ACL checks and with them the account boundary. Not
    // recorded: go-auth asks before every ACL check (unless `auth_opt_disable_superuser true`).
    getSuperuser: async () => ({ ok: false }),
    async checkAcl(req) {
      const base = { action: actionOfAcc(req.acc), resource: `mqtt:${req.topic}`, clientId: req.clientid };
      if (!req.username) throw await refuse('username', 'is required', base);
      if (req.username.length > MAX_CREDENTIAL) throw await refuse('username', `must be at most ${MAX_CREDENTIAL} characters`, base);
      if (req.clientid.length > MAX_CLIENT_ID) throw await refuse('clientid', `must be at most ${MAX_CLIENT_ID} characters`, base);
      const credential = credentials.credentialOf(req.username, req.clientid || undefined);
      if (req.acc < 1 || req.acc > 4) throw await refuse('acc', 'must be 1 (read), 2 (write), 3 (read and write) or 4 (subscribe)', { ...base, credential });
      if (!req.topic) throw await refuse('topic', 'is required', { ...base, credential });
      const answer = await decideAcl({ credential, acc: req.acc, topic: req.topic, clientId: req.clientid });
      if (!answer.ok && answer.reason === 'invalid_topic') throw await refuse('topic', 'is not a valid topic for this acc', { ...base, credential });
      return { ok: answer.ok };
    },
    getName: async () => ({ name: 'tollgate' }),
    // go-auth calls Halt when mosquitto stops; there is nothing of ours to stop.
    halt: async () => ({}),
  };
}

import type { AuthzCore } from './authz-core.ts';
import type { Credential } from './core/credential.ts';
import { createAdapterRefusals, NAMESPACE_MISMATCH, PRINCIPAL_UNKNOWN } from './adapter-refusals.ts';
import { adapterTopic, createTopicNamespace, type SharedBrokerNamespace } from './http/adapter-topic.ts';

/** mosquitto-go-auth `acc` values: 1 read (a delivery), 2 write, 3 read + write, 4 subscribe. */
const ACC_READ = 1;
const ACC_WRITE = 2;
const ACC_SUBSCRIBE = 4;

/** What a refusal records as the action of an ACL check. */
export const actionOfAcc = (acc: number): string => (acc === 2 || acc === 3 ? 'publish' : acc === 1 || acc === 4 ? 'subscribe' : '');

/** `invalid_topic`: not a topic (acc 1-3) or filter (acc 4); the caller answers its own bad-input form. */
export type GoAuthAclAnswer = { ok: true } | { ok: false; reason: string } | { ok: false; reason: 'invalid_topic' };

/**
 * go-auth's ACL check, the same over HTTP (`/mosquitto/aclcheck`) and gRPC (`CheckAcl`): `acc` is
 * already known to be 1-4. The topic is placed in an account per `namespace` (adapter-topic.ts);
 * read + write (3) needs both. Refusals before the engine are recorded here, the engine records
 * its own.
 */
export function createGoAuthAcl(core: AuthzCore, namespace: SharedBrokerNamespace, subscribeOverlap: 'filter' | 'refuse' = 'filter') {
  const refusals = createAdapterRefusals(core);
  const topics = createTopicNamespace(core, namespace);
  return async function checkAcl(input: { credential: Credential | undefined; acc: number; topic: string; clientId: string }): Promise<GoAuthAclAnswer> {
    // acc 4 carries a filter (a subscription), 1-3 a topic name (a delivery, a publish).
    const topic = adapterTopic(input.acc === ACC_SUBSCRIBE ? 'subscribe' : 'publish', input.topic);
    if (topic === undefined) return { ok: false, reason: 'invalid_topic' };
    const base = { source: 'go-auth', action: actionOfAcc(input.acc), resource: `mqtt:${input.topic}`, clientId: input.clientId };
    if (!input.credential) {
      await refusals.record({ ...base, reason: PRINCIPAL_UNKNOWN });
      return { ok: false, reason: PRINCIPAL_UNKNOWN };
    }
    const scoped = await topics.scope(input.credential, topic, undefined);
    if (!scoped) {
      await refusals.record({ ...base, reason: NAMESPACE_MISMATCH, credential: input.credential });
      return { ok: false, reason: NAMESPACE_MISMATCH };
    }
    const actions: ('publish' | 'subscribe')[] = [];
    if (input.acc & ACC_WRITE) actions.push('publish');
    if (input.acc & ACC_READ || input.acc & ACC_SUBSCRIBE) actions.push('subscribe');
    for (const action of actions) {
      // go-auth asks `acc` 1 (read) for every message it delivers, so a subscription overlapping a
      // deny rule may be granted (`filter`): the denied topics are refused at delivery.
      const overlap = input.acc === ACC_SUBSCRIBE ? subscribeOverlap : undefined;
      const [d] = await core.authorize({ credential: input.credential, action, resources: [scoped.resource], clientId: input.clientId, peerIp: undefined, accountId: scoped.accountId, source: 'go-auth', subscribeOverlap: overlap });
      if (!d?.allowed) return { ok: false, reason: d?.reason ?? 'DENIED' };
    }
    return { ok: true };
  };
}

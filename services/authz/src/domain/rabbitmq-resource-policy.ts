import { isId } from '#libs/crypto/ids.ts';
import { isRole, mayPerform } from '#libs/policy/role-policy.ts';

/**
 * RabbitMQ's questions that are not topics — which account a vhost is, which exchanges and queues
 * a principal may touch, which routing keys can be reasoned about as MQTT topics — answered as pure
 * functions. http/rabbitmq-routes.ts reads the request, asks here, and records the answer.
 */

/** RabbitMQ routing key (on a topic exchange) → MQTT topic or filter: `.` → `/`, `*` → `+`, `#` stays. */
export function routingKeyToTopic(routingKey: string): string {
  return routingKey
    .split('.')
    .map((word) => (word === '*' ? '+' : word))
    .join('/');
}

/**
 * The account a vhost stands for: its own id, or `/` when bound to one (a single-tenant
 * deployment); undefined otherwise, so tenants never share an exchange.
 */
export function accountOfVhost(vhost: string, defaultVhostAccountId: string | undefined): string | undefined {
  if (vhost === '/') return defaultVhostAccountId;
  return isId(vhost, 'acc') ? vhost : undefined;
}

/**
 * What an acl token may touch besides topics (checked by `/topic`): exactly what RabbitMQ's MQTT
 * plugin and an AMQP subscriber need — the `amq.topic` exchange (publish: write, bind source:
 * read), its own MQTT subscription queues `mqtt-subscription-<client_id>qos0|qos1` and server-named
 * `amq.gen-*` queues (clients cannot declare `amq.*` names themselves). Never `amq.default` or
 * another exchange: publishing there would reach queues without a topic check.
 */
export function aclMayUseResource(resource: string | null, name: string, permission: string | null, clientId: string): boolean {
  if (permission !== 'configure' && permission !== 'write' && permission !== 'read') return false;
  if (resource === 'exchange') return name === 'amq.topic' && permission !== 'configure';
  if (resource !== 'queue') return false;
  return name.startsWith('amq.gen-') || (clientId !== '' && (name === `mqtt-subscription-${clientId}qos0` || name === `mqtt-subscription-${clientId}qos1`));
}

/** An acl token's exchange or queue: refused outside its own account, or beyond `aclMayUseResource`. */
export function aclResourceRefusal(input: { principalAccountId: string; vhostAccountId: string; resource: string | null; name: string; permission: string | null; clientId: string }): 'ACCOUNT_NOT_IN_SCOPE' | 'KIND_NOT_ALLOWED' | undefined {
  if (input.principalAccountId !== input.vhostAccountId) return 'ACCOUNT_NOT_IN_SCOPE';
  return aclMayUseResource(input.resource, input.name, input.permission, input.clientId) ? undefined : 'KIND_NOT_ALLOWED';
}

/** Users act by role (libs/policy/role-policy.ts): writing to an exchange is publishing. */
export function userMayUseResource(role: string | undefined, resource: string | null, permission: string | null): boolean {
  return (isRole(role) && mayPerform(role, 'write')) || resource !== 'exchange' || permission === 'read';
}

/**
 * A routing key this adapter cannot reason about as an MQTT topic. The routing key is what RabbitMQ
 * matches bindings against, so it is reasoned about word by word: a `.` inside an MQTT topic
 * (`devices/c1.x`) reaches us as a level separator (`devices.c1.x`), exactly as RabbitMQ routes it.
 * MQTT-originated keys never hold a `/` (the plugin turns every `/` into `.`); an AMQP key word
 * holding one would be one level to RabbitMQ but several to the rules, so it is refused. Publishing
 * to a `$` topic is refused too: a binding's leading `#` / `*` matches it in RabbitMQ, unlike an
 * MQTT filter ([MQTT-4.7.2-1]), so subscriptions with a leading wildcard stay within what rules
 * allow. A publish names one topic: wildcards (literal words to AMQP) are refused.
 */
export function isRoutingKeyUnsupported(routingKey: string, action: 'publish' | 'subscribe'): boolean {
  const topic = routingKeyToTopic(routingKey);
  return routingKey.includes('/') || (action === 'publish' && (routingKey.startsWith('$') || topic.includes('+') || topic.includes('#')));
}

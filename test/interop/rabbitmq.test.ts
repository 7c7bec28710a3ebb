// A real RabbitMQ 3.10 delegating every check to Tollgate authz (rabbitmq_auth_backend_http), driven
// by real clients: amqplib (AMQP 0-9-1) and MQTT.js (MQTT 3.1.1 through rabbitmq_mqtt). A second,
// throwaway node is started beside the resident one (test/harness/rabbitmq-node.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import mqtt, { type MqttClient } from 'mqtt';
import { createRpcClient } from '#libs/rpc/index.ts';
import { AuthzService, Effect, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { startTestMesh, type TestMesh } from '../harness/mesh.ts';
import { rabbitmqUnavailableReason, startRabbitmqNode, type RabbitmqNode } from '../harness/rabbitmq-node.ts';

const skipReason = rabbitmqUnavailableReason();
if (skipReason) console.warn(`[rabbitmq interop] skipped: ${skipReason}`);

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const deviceRules = [{ effect: Effect.ALLOW, actions: ['publish', 'subscribe'], resources: ['mqtt:devices/${client_id}/#'] }];

describe.skipIf(!!skipReason)('RabbitMQ 3.10 delegates to Tollgate (real node, real clients)', () => {
  let mesh: TestMesh;
  let rabbit: RabbitmqNode;
  const a = { accountId: '', master: '', device: '', amqp: '' };
  const b = { accountId: '', master: '', device: '' };
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    mesh = await startTestMesh();
    const authzHttp = mesh.services.find((s) => s.name === 'authz')!.httpAddress!;
    // Boot the node while the tenants are made.
    const booting = startRabbitmqNode({ authBaseUrl: authzHttp });
    booting.catch(() => {});
    const authz = createRpcClient(AuthzService, mesh.address('authz'));
    for (const [t, name] of [[a, 'rmq-a'], [b, 'rmq-b']] as const) {
      const tenant = await mesh.createTenant(name);
      t.accountId = tenant.accountId;
      t.master = tenant.masterToken;
      t.device = (await authz.createToken({ accountId: t.accountId, kind: TokenKind.ACL, name: 'device', rules: deviceRules }, bearer(t.master))).secret;
    }
    a.amqp = (
      await authz.createToken({ accountId: a.accountId, kind: TokenKind.ACL, name: 'amqp', rules: [{ effect: Effect.ALLOW, actions: ['publish', 'subscribe'], resources: ['mqtt:telemetry/#'] }] }, bearer(a.master))
    ).secret;
    authz.close();
    rabbit = await booting;
    // RabbitMQ answers 530 "vhost not found" for a vhost it does not know, before asking us.
    await rabbit.addVhosts(a.accountId, b.accountId);
  }, 90_000);

  afterAll(async () => {
    for (const c of clients) c.end(true);
    await rabbit?.stop();
    await mesh?.stop();
  }, 40_000);

  const amqpConnect = (username: string, vhost: string) => amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port: rabbit.amqpPort, username, password: 'unused', vhost, heartbeat: 0 });

  /** MQTT 3.1.1; `vhost:token` as the username picks the vhost (RabbitMQ strips it off). */
  const mqttConnect = async (username: string, clientId: string) => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rabbit.mqttPort}`, { protocolVersion: 4, clientId, username, password: 'unused', reconnectPeriod: 0, connectTimeout: 10_000, clean: true });
    clients.push(client);
    return client;
  };
  const mqttRefusal = async (username: string, clientId: string, password: string | null = 'unused') => {
    const error = (await mqtt
      .connectAsync(`mqtt://127.0.0.1:${rabbit.mqttPort}`, { protocolVersion: 4, clientId, username, ...(password === null ? {} : { password }), reconnectPeriod: 0, connectTimeout: 10_000 })
      .then((c) => {
        clients.push(c);
        return undefined;
      })
      .catch((e: unknown) => e)) as { code?: number } | undefined;
    return error?.code;
  };
  const messages = (client: MqttClient) => {
    const got: { topic: string; payload: string }[] = [];
    client.on('message', (topic, payload) => got.push({ topic, payload: payload.toString() }));
    return got;
  };
  const until = async (condition: () => boolean, timeoutMs = 5_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return condition();
  };

  describe('AMQP 0-9-1 (amqplib)', () => {
    it('opens a connection for a good token in its account\'s vhost, publishes with confirms and consumes through an allowed binding', async () => {
      const conn = await amqpConnect(a.amqp, a.accountId);
      try {
        const ch = await conn.createConfirmChannel();
        const q = await ch.assertQueue('', { exclusive: true }); // amq.gen-…
        await ch.bindQueue(q.queue, 'amq.topic', 'telemetry.#');
        const got: { routingKey: string; body: string }[] = [];
        await ch.consume(q.queue, (m) => m && got.push({ routingKey: m.fields.routingKey, body: m.content.toString() }), { noAck: true });
        ch.publish('amq.topic', 'telemetry.t1', Buffer.from('21.5'));
        await ch.waitForConfirms();
        expect(await until(() => got.length === 1)).toBe(true);
        expect(got[0]).toEqual({ routingKey: 'telemetry.t1', body: '21.5' });
        await ch.close();
      } finally {
        await conn.close();
      }
    });

    it('closes the channel with 403 for a denied routing key or binding pattern', async () => {
      const conn = await amqpConnect(a.amqp, a.accountId);
      conn.on('error', () => {});
      try {
        const publishing = await conn.createConfirmChannel();
        const closed = new Promise<{ code?: number; message: string }>((resolve) => publishing.once('error', resolve));
        publishing.publish('amq.topic', 'secret.x', Buffer.from('no'));
        await expect(publishing.waitForConfirms()).rejects.toBeDefined();
        const error = await closed;
        expect(error.code).toBe(403);
        expect(error.message).toMatch(/access to topic 'secret\.x' in exchange 'amq\.topic'/);

        const binding = await conn.createChannel();
        binding.on('error', () => {});
        const q = await binding.assertQueue('', { exclusive: true });
        await expect(binding.bindQueue(q.queue, 'amq.topic', '#')).rejects.toMatchObject({ code: 403 });

        const direct = await conn.createConfirmChannel();
        direct.on('error', () => {});
        direct.publish('amq.direct', 'any', Buffer.from('no')); // not amq.topic: an acl token may not write there
        await expect(direct.waitForConfirms()).rejects.toBeDefined();
      } finally {
        await conn.close().catch(() => {});
      }
      const authz = createRpcClient(AuthzService, mesh.address('authz'));
      const recent = await authz.listRecentDecisions({ accountId: a.accountId, denialsOnly: true }, bearer(a.master));
      authz.close();
      expect(recent.decisions.some((d) => d.source === 'rabbitmq' && d.resource === 'mqtt:secret/x' && d.action === 'publish')).toBe(true);
    });

    it('refuses a bad token (403 ACCESS_REFUSED), another account\'s vhost and `/` (530 NOT_ALLOWED)', async () => {
      await expect(amqpConnect(`${a.amqp.slice(0, -3)}xyz`, a.accountId)).rejects.toThrow(/403 \(ACCESS-REFUSED\)/);
      await expect(amqpConnect('not-a-token', a.accountId)).rejects.toThrow(/403 \(ACCESS-REFUSED\)/);
      // amqplib reports a close in answer to connection.open without its code; RabbitMQ logs the 530 text.
      for (const vhost of [b.accountId, '/']) {
        await expect(amqpConnect(a.amqp, vhost)).rejects.toThrow(/Expected ConnectionOpenOk; got <ConnectionClose/);
        expect(await until(() => rabbit.log().includes(`access to vhost '${vhost}' refused for user '${a.amqp}'`))).toBe(true);
      }
      const conn = await amqpConnect(b.master, b.accountId); // B's master token in B's own vhost
      await conn.close();
    });
  });

  describe('MQTT 3.1.1 (MQTT.js) through rabbitmq_mqtt', () => {
    it('a device subscribes and publishes within its rule; a publish outside it drops the connection', async () => {
      const device = await mqttConnect(`${a.accountId}:${a.device}`, 'c1');
      const got = messages(device);
      const granted = await device.subscribeAsync('devices/c1/#', { qos: 1 });
      expect(granted[0]?.qos).toBe(1);
      await device.publishAsync('devices/c1/temp', '21.5', { qos: 1 });
      expect(await until(() => got.some((m) => m.topic === 'devices/c1/temp' && m.payload === '21.5'))).toBe(true);
      // A `.` in an MQTT topic is a level to RabbitMQ: `devices/c1.x` is routed as devices.c1.x.
      await device.publishAsync('devices/c1.x', 'dot', { qos: 1 });
      expect(await until(() => got.some((m) => m.topic === 'devices/c1/x' && m.payload === 'dot'))).toBe(true);

      const closed = new Promise<void>((resolve) => device.once('close', () => resolve()));
      const denied = device.publishAsync('devices/c2/x', 'no', { qos: 1 }).then(
        () => 'acked',
        () => 'failed',
      );
      await closed; // RabbitMQ closes the TCP connection: MQTT 3.1.1 has no negative PUBACK
      expect(device.connected).toBe(false);
      device.end(true);
      expect(await Promise.race([denied, new Promise((r) => setTimeout(() => r('no puback'), 500))])).not.toBe('acked');
    });

    it('refuses a bad token with CONNACK 4, and `/` (no vhost in the username) or another account\'s vhost with CONNACK 5', async () => {
      expect(await mqttRefusal(`${a.accountId}:${a.device.slice(0, -3)}xyz`, 'c9')).toBe(4);
      expect(await mqttRefusal(a.device, 'c9')).toBe(5);
      expect(await mqttRefusal(`${b.accountId}:${a.device}`, 'c9')).toBe(5);
      // RabbitMQ 3.10 wants a password beside the username, any value: without one it answers CONNACK 4.
      expect(await mqttRefusal(`${a.accountId}:${a.device}`, 'c8', null)).toBe(4);
    });

    it('keeps two accounts apart by vhost: the same topic in A never reaches B', async () => {
      // RabbitMQ 3.10 keeps MQTT client ids node-wide, not per vhost: a second `c1` in B would take
      // A's `c1` over ("duplicate id"). So B's subscriber is another client id, on the same topic.
      const subA = await mqttConnect(`${a.accountId}:${a.device}`, 'c1');
      const subB = await mqttConnect(`${b.accountId}:${b.master}`, 'b-sub');
      const gotA = messages(subA);
      const gotB = messages(subB);
      await subA.subscribeAsync('devices/c1/#', { qos: 1 });
      await subB.subscribeAsync('devices/c1/#', { qos: 1 });
      const backendA = await mqttConnect(`${a.accountId}:${a.master}`, 'backend-a');
      const backendB = await mqttConnect(`${b.accountId}:${b.master}`, 'backend-b');
      await backendB.publishAsync('devices/c1/cmd', 'for-b', { qos: 1 });
      await backendA.publishAsync('devices/c1/cmd', 'for-a', { qos: 1 });
      expect(await until(() => gotA.length >= 1 && gotB.length >= 1)).toBe(true);
      await new Promise((r) => setTimeout(r, 500)); // room for a stray delivery to show up
      expect(gotA).toEqual([{ topic: 'devices/c1/cmd', payload: 'for-a' }]);
      expect(gotB).toEqual([{ topic: 'devices/c1/cmd', payload: 'for-b' }]);
      // AMQP in A's vhost reaches A's MQTT subscriber only.
      const conn = await amqpConnect(a.master, a.accountId);
      const ch = await conn.createConfirmChannel();
      ch.publish('amq.topic', 'devices.c1.amqp', Buffer.from('via-amqp'));
      await ch.waitForConfirms();
      await conn.close();
      expect(await until(() => gotA.some((m) => m.payload === 'via-amqp'))).toBe(true);
      expect(gotB.some((m) => m.payload === 'via-amqp')).toBe(false);
    });
  });
});

/**
 * Two broker edges of one mesh, clustered over a private nats-server: devices with real tokens on
 * different edges talk to each other, and the CLI asked on one edge lists and kicks clients of both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import mqtt, { type MqttClient } from 'mqtt';
import { startTestMesh, type TestMesh } from '../harness/mesh.ts';
import { startNatsNode, type NatsNode } from '../harness/nats-node.ts';

const cli = new URL('../../bin/tollgate.js', import.meta.url).pathname;

describe('broker edges form one MQTT cluster over NATS', () => {
  let nats: NatsNode;
  let mesh: TestMesh;
  let edge2: TestMesh;
  let tenant: { accountId: string; masterToken: string };
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    nats = await startNatsNode();
    const clusterEnv = { TOLLGATE_NATS_URL: nats.url, TOLLGATE_BROKER_CLUSTER: `scenario${process.pid}` };
    mesh = await startTestMesh({ env: { ...clusterEnv, TOLLGATE_BROKER_EDGE_ID: 'edge-1' } });
    edge2 = await startTestMesh({
      only: 'broker',
      database: mesh.database,
      secretKey: mesh.secretKey,
      env: { ...clusterEnv, TOLLGATE_BROKER_EDGE_ID: 'edge-2', TOLLGATE_AUTHZ_URL: mesh.address('authz'), TOLLGATE_IDENTITY_URL: mesh.address('identity'), TOLLGATE_QUOTA_URL: mesh.address('quota') },
    });
    tenant = await mesh.createTenant('cluster');
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await edge2?.stop();
    await mesh?.stop();
    await nats?.destroy();
  });

  const device = async (edge: TestMesh, clientId: string) => {
    const c = await mqtt.connectAsync(`mqtt://${edge.broker!.mqttAddresses().tcp}`, { protocolVersion: 5, clientId, username: tenant.masterToken, reconnectPeriod: 0 });
    clients.push(c);
    return c;
  };

  function tollgate(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [cli, ...args, '--json'], {
        env: { PATH: process.env.PATH ?? '', TOLLGATE_BROKER_URL: edge2.address('broker'), TOLLGATE_AUTHZ_URL: mesh.address('authz'), TOLLGATE_IDENTITY_URL: mesh.address('identity'), TOLLGATE_TOKEN: tenant.masterToken, TOLLGATE_DATA_DIR: mesh.dataDir },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end();
    });
  }

  it('a device on edge 1 gets what a device on edge 2 publishes, QoS 1, in its account only', async () => {
    expect(mesh.broker!.cluster?.edgeId).toBe('edge-1');
    expect(edge2.broker!.cluster?.connected).toBe(true);
    const sub = await device(mesh, 'sensor-sub');
    const got: string[] = [];
    sub.on('message', (topic, payload) => got.push(`${topic}=${payload.toString()}`));
    await sub.subscribeAsync('room/+/temp', { qos: 1 });
    const pub = await device(edge2, 'sensor-pub');
    await pub.publishAsync('room/1/temp', '21.5', { qos: 1 });
    await expect.poll(() => got, { timeout: 5_000 }).toEqual(['room/1/temp=21.5']);
  });

  it('`tollgate clients list|kick` asked on edge 2 answers for both edges', async () => {
    const listed = await tollgate(['clients', 'list']);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as { clients: { client_id: string }[] }).clients.map((c) => c.client_id).sort()).toEqual(['sensor-pub', 'sensor-sub']);
    // The account's own figures, summed over both edges (one publish in, one delivery out).
    const stats = await tollgate(['clients', 'stats', '--account', tenant.accountId, '--subtree']);
    expect(stats.code, stats.stderr).toBe(0);
    expect(JSON.parse(stats.stdout)).toMatchObject({ account_id: tenant.accountId, subtree: true, accounts: 1, connections: 2, messages_in: 1, messages_out: 1, denied: 0 });
    const sub = clients[0]!;
    const gone = new Promise<number | undefined>((resolve) => sub.once('disconnect', (p) => resolve(p.reasonCode)));
    const kicked = await tollgate(['clients', 'kick', 'sensor-sub']);
    expect(kicked.code, kicked.stderr).toBe(0);
    expect(JSON.parse(kicked.stdout)).toMatchObject({ kicked: true });
    expect(await gone).toBe(0x98);
  });
});

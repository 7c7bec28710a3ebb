import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { startTestMesh, type TestMesh } from '../harness/mesh.ts';

/**
 * The broker's limits on hostile and idle clients, set through the environment as `tollgate start`
 * reads it (TOLLGATE_BROKER_*), against real MQTT.js clients presenting a real token.
 */
describe('broker limits from the environment', () => {
  let mesh: TestMesh;
  let mqttUrl: string;
  let token: string;
  const clients: MqttClient[] = [];

  function connect(opts: IClientOptions): Promise<{ client: MqttClient; connack: mqtt.IConnackPacket }> {
    return new Promise((resolve, reject) => {
      const client = mqtt.connect(mqttUrl, { reconnectPeriod: 0, connectTimeout: 3_000, username: token, ...opts });
      clients.push(client);
      client.once('connect', (connack) => resolve({ client, connack }));
      client.once('error', (e) => {
        client.end(true);
        reject(e);
      });
    });
  }

  beforeAll(async () => {
    mesh = await startTestMesh({ env: { TOLLGATE_BROKER_MAX_KEEPALIVE: '30', TOLLGATE_BROKER_MAX_CONNECT_BYTES: '2048' } });
    mqttUrl = `mqtt://${mesh.broker!.mqttAddresses().tcp}`;
    token = (await mesh.createTenant('limits')).masterToken;
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await mesh?.stop();
  });

  it('TOLLGATE_BROKER_MAX_KEEPALIVE: a v5 client asking 0 or more is told Server Keep Alive 30 and uses it [MQTT-3.2.2-21]', async () => {
    const forever = await connect({ protocolVersion: 5, clientId: 'ka0', keepalive: 0 });
    expect(forever.connack.properties?.serverKeepAlive).toBe(30);
    const long = await connect({ protocolVersion: 5, clientId: 'ka600', keepalive: 600 });
    expect(long.connack.properties?.serverKeepAlive).toBe(30);
    // MQTT.js pings on the server's value from now on (it ignores Server Keep Alive when it asked
    // for 0 itself: such a client is closed 0x8D after 45 s of silence — see the broker README).
    expect(long.client.keepalive).toBe(30);
    const short = await connect({ protocolVersion: 5, clientId: 'ka10', keepalive: 10 });
    expect(short.connack.properties?.serverKeepAlive).toBeUndefined();
  });

  it('TOLLGATE_BROKER_MAX_KEEPALIVE: a v3.1.1 client has no Server Keep Alive, so it keeps the keep-alive it asked for', async () => {
    const v4 = await connect({ protocolVersion: 4, clientId: 'ka-v4', keepalive: 600 });
    expect(v4.connack.properties).toBeUndefined();
    expect(v4.connack.returnCode).toBe(0);
    expect(mesh.broker!.broker.clients().find((c) => c.clientId === 'ka-v4')?.protocol).toBe('mqtt3.1.1');
  });

  it('TOLLGATE_BROKER_MAX_CONNECT_BYTES: a v5 CONNECT over it gets CONNACK 0x95; one under it connects', async () => {
    await expect(connect({ protocolVersion: 5, clientId: 'big', password: 'p'.repeat(3_000) })).rejects.toMatchObject({ code: 0x95 });
    const small = await connect({ protocolVersion: 5, clientId: 'small', password: 'p'.repeat(1_000) });
    expect(small.connack.reasonCode).toBe(0);
  });
});

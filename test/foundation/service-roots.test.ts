import { afterAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { startableServices } from '#libs/config/index.ts';
import { PeerDirectory } from '#libs/rpc/index.ts';
import { silentLogger, startTelemetry } from '#libs/telemetry/index.ts';
import { composeBroker } from '#services/broker/src/main.ts';
import { loadBrokerConfig } from '#services/broker/src/config.ts';
import { composeConsole } from '#services/console/src/main.ts';
import { loadConsoleConfig } from '#services/console/src/config.ts';
import { testSecretKey } from '../harness/database.ts';

/** A service's composition root: built from its config and its peers, a handle with start / stop / health. */
describe('service composition roots (services/<name>/src/main.ts)', () => {
  const telemetry = startTelemetry({ serviceName: 'roots-test' });
  const deps = { logger: silentLogger(), telemetry, secretKey: testSecretKey(), peers: new PeerDirectory() };
  afterAll(() => telemetry.shutdown());

  it('every service has the same shape: src/config.ts (load<Name>Config) and src/main.ts (compose<Name>)', async () => {
    const names = readdirSync(new URL('../../services', import.meta.url), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    expect(names.sort()).toEqual([...startableServices].sort());
    for (const name of names) {
      const title = name[0]!.toUpperCase() + name.slice(1);
      const config = (await import(`../../services/${name}/src/config.ts`)) as Record<string, unknown>;
      const root = (await import(`../../services/${name}/src/main.ts`)) as Record<string, unknown>;
      expect({ name, load: typeof config[`load${title}Config`], compose: typeof root[`compose${title}`] }).toEqual({ name, load: 'function', compose: 'function' });
    }
  });

  it('the broker edge: STOPPED, then SERVING over its own gRPC health once started, STOPPED again after stop', async () => {
    const edge = composeBroker(loadBrokerConfig({ TOLLGATE_BROKER_GRPC_PORT: '0', TOLLGATE_BROKER_HTTP_PORT: '0', TOLLGATE_MQTT_PORT: '0', TOLLGATE_MQTT_WS_PORT: '0', TOLLGATE_BROKER_EDGE_ID: 'root-test' }), deps);
    expect(await edge.health()).toEqual({ status: 'STOPPED' });
    const started = await edge.start();
    try {
      expect(started.name).toBe('broker');
      expect(await edge.health()).toEqual({ status: 'SERVING' });
      expect(edge.mqttAddresses().tcp).toMatch(/^127\.0\.0\.1:\d+$/);
    } finally {
      await edge.stop();
    }
    expect(await edge.health()).toEqual({ status: 'STOPPED' });
  });

  it('the console (HTTP only): SERVING through its /healthz', async () => {
    const consoleRoot = composeConsole(loadConsoleConfig({ TOLLGATE_CONSOLE_HTTP_PORT: '0' }), deps);
    expect(await consoleRoot.health()).toEqual({ status: 'STOPPED' });
    const started = await consoleRoot.start();
    try {
      expect(started.httpAddress).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(await consoleRoot.health()).toEqual({ status: 'SERVING' });
    } finally {
      await consoleRoot.stop();
    }
    expect(await consoleRoot.health()).toEqual({ status: 'STOPPED' });
  });
});

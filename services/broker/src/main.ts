import { createServer } from 'node:net';
import type { PeerDirectory } from '#libs/rpc/index.ts';
import { withHealth, type ServiceHandle } from '#libs/service/service-handle.ts';
import { createBrokerApp, type BrokerApp, type BrokerDeps } from './app.ts';
import type { BrokerConfig } from './config.ts';

/** What the edge is built from besides its config: shared pieces (libs/; no database) and where its peers are. */
export interface BrokerRootDeps extends BrokerDeps {
  /** authz, quota and identity, by gRPC address (in-process or remote: the same clients). */
  peers: PeerDirectory;
}

export type BrokerService = BrokerApp & ServiceHandle;

/** Composition root of the broker edge, used by `tollgate start --service broker` and the one-process mesh. */
export function composeBroker(config: BrokerConfig, deps: BrokerRootDeps): BrokerService {
  const app = createBrokerApp(
    {
      ...config.edge,
      listen: { host: config.common.host, grpcPort: config.grpcPort, httpPort: config.httpPort, grpcTls: config.common.grpcTls.server },
      peers: deps.peers,
      clientTls: config.common.grpcTls.client,
      mqtt: { host: config.common.host, port: config.mqtt.port, tls: config.mqtt.tls, wsPort: config.mqtt.wsPort },
    },
    deps,
  );
  return withHealth(app, { tls: config.common.grpcTls.client });
}

/**
 * Development convenience: MQTT ports left at their defaults that another broker already holds
 * are swapped for free ones, each said in `notes`. The caller decides which ports were left at
 * their defaults; a port the operator set is never changed.
 */
export async function withFreeMqttPorts(config: BrokerConfig): Promise<{ config: BrokerConfig; notes: string[] }> {
  const notes: string[] = [];
  const free = async (port: number, name: string) => {
    if (await isPortFree(config.common.host, port)) return port;
    notes.push(`port ${port} is taken (another MQTT broker?): ${name} uses a free port instead; set ${name} to choose one`);
    return 0;
  };
  const mqtt = {
    port: await free(config.mqtt.port, 'TOLLGATE_MQTT_PORT'),
    tls: config.mqtt.tls ? { ...config.mqtt.tls, port: await free(config.mqtt.tls.port, 'TOLLGATE_MQTTS_PORT') } : undefined,
    wsPort: await free(config.mqtt.wsPort, 'TOLLGATE_MQTT_WS_PORT'),
  };
  return { config: { ...config, mqtt }, notes };
}

/** Whether host:port can be bound right now. */
async function isPortFree(host: string, port: number): Promise<boolean> {
  if (port === 0) return true;
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, host, () => probe.close(() => resolve(true)));
  });
}

import { createRpcServer } from '#libs/rpc/index.ts';
import { hostService, type ServiceApp, type ServiceDeps, type ServiceListen } from '#libs/service/service-host.ts';
import { BrokerAdminService } from '#gen/tollgate/broker/v1/broker_pb.js';

export interface BrokerAppConfig {
  listen: ServiceListen;
  mqtt: { port: number; tlsPort: number; wsPort: number };
}

/**
 * Composition root of the MQTT broker edge. The broker core (services/broker/src) is wired to its
 * listeners and to authz/quota in the broker issue; the admin RPCs answer UNIMPLEMENTED until then.
 */
export function createBrokerApp(config: BrokerAppConfig, deps: ServiceDeps): ServiceApp {
  const rpc = createRpcServer({ logger: deps.logger, tls: config.listen.grpcTls });
  rpc.add(BrokerAdminService, {});
  return hostService({ name: 'broker', listen: { ...config.listen, httpPort: undefined }, rpc });
}

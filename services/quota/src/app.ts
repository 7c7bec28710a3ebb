import { fileURLToPath } from 'node:url';
import { createBaseHttpApp } from '#libs/http/index.ts';
import { createRpcServer } from '#libs/rpc/index.ts';
import { hostService, type ServiceApp, type ServiceDeps, type ServiceListen } from '#libs/service/service-host.ts';
import { QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';

export const quotaMigrations = { schema: 'quota', dir: fileURLToPath(new URL('../migrations', import.meta.url)) };

export interface QuotaAppConfig {
  listen: ServiceListen;
}

/**
 * Composition root of the quota service. The quota engine (services/quota/src/domain) is wired to
 * these RPCs in the quota issue; until then its RPCs answer UNIMPLEMENTED by name.
 */
export function createQuotaApp(config: QuotaAppConfig, deps: ServiceDeps): ServiceApp {
  const rpc = createRpcServer({ logger: deps.logger, tls: config.listen.grpcTls });
  rpc.add(QuotaService, {});
  const http = createBaseHttpApp({ service: 'quota', telemetry: deps.telemetry, logger: deps.logger });
  return hostService({ name: 'quota', listen: config.listen, rpc, http });
}

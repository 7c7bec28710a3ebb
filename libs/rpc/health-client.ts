import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { channelCredentials, type RpcClientTlsConfig } from './tls.ts';

let Health: ServiceClientConstructor | undefined;

function healthConstructor(): ServiceClientConstructor {
  if (!Health) {
    const pkg = loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as GrpcObject;
    Health = (((pkg.grpc as GrpcObject).health as GrpcObject).v1 as GrpcObject).Health as ServiceClientConstructor;
  }
  return Health;
}

export type HealthStatus = 'SERVING' | 'NOT_SERVING' | 'UNKNOWN' | 'SERVICE_UNKNOWN' | 'UNREACHABLE';

/** Calls grpc.health.v1.Health/Check; never throws: an unreachable server is an answer. */
export async function checkHealth(address: string, options: { service?: string; tls?: RpcClientTlsConfig | undefined; timeoutMs?: number } = {}): Promise<{ status: HealthStatus; error?: string }> {
  const Ctor = healthConstructor();
  const client = new Ctor(address, channelCredentials(options.tls));
  try {
    return await new Promise((resolve) => {
      client.Check!({ service: options.service ?? '' }, { deadline: Date.now() + (options.timeoutMs ?? 2_000) }, (error: (Error & { code?: number; details?: string }) | null, res: { status: HealthStatus }) => {
        if (error) resolve(error.code === 5 ? { status: 'SERVICE_UNKNOWN' } : { status: 'UNREACHABLE', error: error.details || error.message });
        else resolve({ status: res.status });
      });
    });
  } finally {
    client.close();
  }
}

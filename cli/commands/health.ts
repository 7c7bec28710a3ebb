import { defaultPorts, serviceNames, type MeshEnv } from '#libs/config/index.ts';
import { checkHealth } from '#libs/rpc/index.ts';
import type { Output } from '../output.ts';

/** `tollgate health`: grpc.health.v1 Check on every service; exit 1 unless all are SERVING. */
export async function runHealth(env: MeshEnv, options: { out: Output }): Promise<number> {
  const host = env.TOLLGATE_HOST === '0.0.0.0' ? '127.0.0.1' : env.TOLLGATE_HOST;
  const address = (name: (typeof serviceNames)[number]): string => {
    const configured = { identity: env.TOLLGATE_IDENTITY_URL, authz: env.TOLLGATE_AUTHZ_URL, quota: env.TOLLGATE_QUOTA_URL, broker: env.TOLLGATE_BROKER_URL }[name];
    const port = { identity: env.TOLLGATE_IDENTITY_GRPC_PORT, authz: env.TOLLGATE_AUTHZ_GRPC_PORT, quota: env.TOLLGATE_QUOTA_GRPC_PORT, broker: env.TOLLGATE_BROKER_GRPC_PORT }[name];
    return configured ?? `${host}:${port || defaultPorts[name].grpc}`;
  };
  const tls = env.TOLLGATE_GRPC_TLS_CERT ? { caFile: env.TOLLGATE_GRPC_TLS_CA ?? env.TOLLGATE_GRPC_TLS_CERT, certFile: env.TOLLGATE_GRPC_TLS_CERT, keyFile: env.TOLLGATE_GRPC_TLS_KEY } : undefined;
  const services = await Promise.all(
    serviceNames.map(async (name) => {
      const addr = address(name);
      const result = await checkHealth(addr, { tls });
      return { name, address: addr, status: result.status, ...(result.error ? { error: result.error } : {}) };
    }),
  );
  const healthy = services.every((s) => s.status === 'SERVING');
  options.out.result({ healthy, services }, () => services.map((s) => `${s.name.padEnd(9)} ${s.address.padEnd(22)} ${s.status}`).join('\n'));
  return healthy ? 0 : 1;
}

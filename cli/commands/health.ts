import { serviceNames } from '#libs/config/index.ts';
import type { MeshEnv } from '../mesh-config.ts';
import { clientTls, serviceAddress } from '../endpoints.ts';
import { checkHealth } from '#libs/rpc/index.ts';
import type { Output } from '../output.ts';

/** `tollgate health`: grpc.health.v1 Check on every service; exit 1 unless all are SERVING. */
export async function runHealth(env: MeshEnv, options: { out: Output }): Promise<number> {
  const address = (name: (typeof serviceNames)[number]) => serviceAddress(env, name);
  const tls = clientTls(env);
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

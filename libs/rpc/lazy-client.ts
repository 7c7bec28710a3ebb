import type { DescService } from '@bufbuild/protobuf';
import { AppError } from '#libs/errors/index.ts';
import { createRpcClient, type RpcClientOptions } from './client.ts';
import type { ServiceClient } from './types.ts';

/**
 * Where the mesh's services listen. In one process the ports may be picked at bind time (port 0),
 * so clients resolve their peer's address on first use rather than at construction.
 */
export class PeerDirectory {
  private readonly addresses = new Map<string, string>();

  constructor(initial: Record<string, string | undefined> = {}) {
    for (const [name, address] of Object.entries(initial)) if (address) this.addresses.set(name, address);
  }

  set(name: string, address: string): void {
    this.addresses.set(name, address);
  }

  address(name: string): string {
    const address = this.addresses.get(name);
    if (!address) throw new AppError('UNAVAILABLE', `${name} is not configured (set TOLLGATE_${name.toUpperCase()}_URL)`, { reason: 'PEER_NOT_CONFIGURED' });
    return address;
  }

  has(name: string): boolean {
    return this.addresses.has(name);
  }
}

/** A typed client whose channel opens on the first call, to whatever address the directory has then. */
export function createLazyClient<S extends DescService>(service: S, resolve: () => string, options: RpcClientOptions = {}): ServiceClient<S> {
  let real: ServiceClient<S> | undefined;
  const get = () => (real ??= createRpcClient(service, resolve(), options));
  const api: Record<string, unknown> = {
    close: () => {
      real?.close();
      real = undefined;
    },
  };
  for (const method of service.methods) {
    api[method.localName] = (...args: unknown[]) => (get() as unknown as Record<string, (...a: unknown[]) => unknown>)[method.localName]!(...args);
  }
  return api as ServiceClient<S>;
}

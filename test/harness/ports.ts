import { createConnection, createServer, type AddressInfo } from 'node:net';

/** A port free on 127.0.0.1 right now (for a process of the test's own that must be told its port). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const handedOut = new Set<number>();

/**
 * A port free on 127.0.0.1 now and outside Linux's default ephemeral range (32768-60999), for a
 * process started seconds later that must bind exactly it (a gRPC port its peers are told in
 * advance). A port from `freePort` is in that range: meanwhile the kernel may give it to any
 * outgoing connection on the machine as its local port — or to a peer dialing it before it
 * listens (TCP self-connect) — and the late process fails with EADDRINUSE.
 */
export async function freeListenPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (handedOut.has(port)) continue;
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!bound) continue;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    handedOut.add(port);
    return port;
  }
  throw new Error('no free port in 20000-31999 after 50 tries');
}

/** Does something accept TCP connections on 127.0.0.1:port? */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

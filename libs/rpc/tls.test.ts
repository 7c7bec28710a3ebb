import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EchoService } from '#gen/tollgate/echo/v1/echo_pb.js';
import type { AppError } from '#libs/errors/index.ts';
import { silentLogger } from '#libs/telemetry/index.ts';
import { createEchoService } from './echo-service.ts';
import { createRpcClient, createRpcServer, type RpcServer } from './index.ts';

/** A throwaway CA and two leaf certificates for 127.0.0.1, made with openssl at test time. */
function makePki(dir: string) {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  writeFileSync(join(dir, 'leaf.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=tollgate-test-ca');
  for (const name of ['server', 'client']) {
    ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', 'leaf.ext');
  }
  return { ca: join(dir, 'ca.crt'), serverCert: join(dir, 'server.crt'), serverKey: join(dir, 'server.key'), clientCert: join(dir, 'client.crt'), clientKey: join(dir, 'client.key') };
}

describe('libs/rpc with mutual TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-pki-'));
  let pki: ReturnType<typeof makePki>;
  let server: RpcServer;
  let address: string;

  beforeAll(async () => {
    pki = makePki(dir);
    server = createRpcServer({ logger: silentLogger(), tls: { certFile: pki.serverCert, keyFile: pki.serverKey, caFile: pki.ca } });
    server.add(EchoService, createEchoService());
    address = `127.0.0.1:${await server.listen('127.0.0.1', 0)}`;
  });
  afterAll(async () => {
    await server.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a client that presents a certificate from the CA', async () => {
    const client = createRpcClient(EchoService, address, { tls: { caFile: pki.ca, certFile: pki.clientCert, keyFile: pki.clientKey } });
    expect((await client.echo({ message: 'over mTLS' })).message).toBe('over mTLS');
    client.close();
  });

  it('refuses a client without a certificate, and a plaintext client', async () => {
    const anonymous = createRpcClient(EchoService, address, { tls: { caFile: pki.ca }, defaultDeadlineMs: 2_000 });
    const e1 = (await anonymous.echo({ message: 'x' }).catch((e: unknown) => e)) as AppError;
    // Calls wait for a connection up to their deadline (waitForReady): a handshake that never
    // succeeds ends as UNAVAILABLE or, once the deadline passes, DEADLINE_EXCEEDED — never an answer.
    expect(['UNAVAILABLE', 'DEADLINE_EXCEEDED']).toContain(e1.code);
    anonymous.close();
    const plain = createRpcClient(EchoService, address, { defaultDeadlineMs: 2_000 });
    const e2 = (await plain.echo({ message: 'x' }).catch((e: unknown) => e)) as AppError;
    expect(['UNAVAILABLE', 'DEADLINE_EXCEEDED']).toContain(e2.code);
    plain.close();
  });
});

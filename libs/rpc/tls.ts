import { readFileSync } from 'node:fs';
import { credentials, ServerCredentials, type ChannelCredentials } from '@grpc/grpc-js';

/** Service-to-service TLS. With `caFile` on the server, clients must present a certificate (mTLS). */
export interface RpcTlsConfig {
  certFile: string;
  keyFile: string;
  /** Server: CA that client certificates must chain to (enables mutual TLS). Client: CA to trust. */
  caFile?: string | undefined;
}

export function serverCredentials(tls: RpcTlsConfig | undefined): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  const ca = tls.caFile ? readFileSync(tls.caFile) : null;
  return ServerCredentials.createSsl(ca, [{ cert_chain: readFileSync(tls.certFile), private_key: readFileSync(tls.keyFile) }], ca !== null);
}

/** Client credentials: plaintext without config; TLS with `caFile`; mutual TLS when cert and key are set too. */
export interface RpcClientTlsConfig {
  caFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
  /** Name to verify the server certificate against, when it differs from the dialled host. */
  serverName?: string | undefined;
}

export function channelCredentials(tls: RpcClientTlsConfig | undefined): ChannelCredentials {
  if (!tls || (!tls.caFile && !tls.certFile)) return credentials.createInsecure();
  return credentials.createSsl(
    tls.caFile ? readFileSync(tls.caFile) : null,
    tls.keyFile ? readFileSync(tls.keyFile) : null,
    tls.certFile ? readFileSync(tls.certFile) : null,
  );
}

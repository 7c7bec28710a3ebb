// The authz benchmark's peer: a bare grpc-js server with a constant handler on Authorize's method
// path — no protobuf (bytes in, the same encoded AuthorizeResponse Tollgate answers out), no
// interceptors, no telemetry, channelz off. In a process of its own (bare-grpc-server-process.ts) it
// is the ceiling of grpc-js and Node's http2 on this machine; started inside Tollgate's own process
// (authz-server-process.ts) it is what any grpc-js handler costs in that process, so that Tollgate's
// Authorize against it is Tollgate's own work, and it against the lone one is what the process adds.
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';

export async function startBareGrpcServer(response: Buffer): Promise<{ address: string; stop(): Promise<void> }> {
  const identity = (bytes: Buffer): Buffer => bytes;
  const server = new Server({ 'grpc.enable_channelz': 0 });
  server.addService(
    {
      authorize: {
        path: '/tollgate.authz.v1.AuthzService/Authorize',
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    {
      authorize: (_call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => callback(null, response),
    },
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))));
  return {
    address: `127.0.0.1:${port}`,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

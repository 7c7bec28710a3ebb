// The authz benchmark's peer: a bare grpc-js server in a process of its own, serving the same
// method path with a constant handler — no protobuf (bytes in, the same encoded AuthorizeResponse
// Tollgate answers out), no interceptors, no telemetry, channelz off. It is the ceiling of grpc-js
// and Node's http2 on this machine; Tollgate's Authorize is measured as a ratio to it in the same
// run. argv[2]: the base64 response message. Prints `{"address": …}` and serves until stdin closes;
// `profile start` / `profile stop <file>` on stdin profile a window (profile-on-stdin.ts).
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { profileOnStdin } from './profile-on-stdin.ts';

const response = Buffer.from(process.argv[2] ?? '', 'base64');
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
process.stdout.write(`${JSON.stringify({ address: `127.0.0.1:${port}`, pid: process.pid })}\n`);
profileOnStdin();
process.stdin.resume();
process.stdin.on('end', () => server.tryShutdown(() => process.exit(0)));

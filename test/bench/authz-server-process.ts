// The authz benchmark's server in a process of its own (the whole mesh, as `tollgate start` runs it,
// on an in-memory PGlite): creates a tenant and an acl token with 100 rules, prints one JSON line
// with authz's gRPC address, the framed Authorize request h2load replays and the response it gets
// (which the bare grpc-js peer replays) and the address of a bare grpc-js peer it serves itself
// (bare-grpc-server.ts), then serves until its stdin closes. The request is
// checked once here so that the bench never measures a denial. Trace sampling follows this process's
// OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (the JSON line says which sampler it runs). On stdin,
// `profile start` and `profile stop <file>` run the V8 profiler over a window (profile-on-stdin.ts).
import { create, toBinary } from '@bufbuild/protobuf';
import { AuthzService, AuthorizeRequestSchema, AuthorizeResponseSchema, Effect, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { Authorization, CheckRequestSchema } from '#gen/envoy/service/auth/v3/external_auth_pb.js';
import { createRpcClient } from '#libs/rpc/index.ts';
import { startTestMesh } from '../harness/mesh.ts';
import { BENCH_TRACE_ENV } from './bench-mesh.ts';
import { grpcFrame } from './h2load.ts';
import { profileOnStdin } from './profile-on-stdin.ts';
import { startBareGrpcServer } from './bare-grpc-server.ts';

const mesh = await startTestMesh({ env: BENCH_TRACE_ENV });
const tenant = await mesh.createTenant('bench');
const authz = createRpcClient(AuthzService, mesh.address('authz'));
const rules = [
  ...Array.from({ length: 100 }, (_, i) => ({ effect: Effect.ALLOW, actions: ['publish'], resources: [`mqtt:devices/\${client_id}/sensor${i}/#`] })),
  // For Envoy's Check: an API key reading telemetry.
  { effect: Effect.ALLOW, actions: ['read'], resources: ['api:/v1/devices/*/telemetry'] },
];
const { secret } = await authz.createToken({ accountId: tenant.accountId, kind: TokenKind.ACL, rules }, { headers: { authorization: `Bearer ${tenant.masterToken}` } });
const request = { credential: { bearer: secret }, action: 'publish', resource: 'mqtt:devices/c1/sensor7/temp', clientId: 'c1' };
const check = await authz.authorize(request);
if (!check.allowed) throw new Error(`bench request denied: ${check.reason}`);
const envoyCheck = create(CheckRequestSchema, {
  attributes: {
    source: { address: { address: { case: 'socketAddress', value: { address: '10.1.2.3', portSpecifier: { case: 'portValue', value: 50_000 } } } } },
    request: { http: { method: 'GET', path: '/v1/devices/d7/telemetry', host: 'api.example', scheme: 'https', headers: { authorization: `Bearer ${secret}`, ':method': 'GET', ':path': '/v1/devices/d7/telemetry' } } },
  },
});
const envoy = createRpcClient(Authorization, mesh.address('authz'));
const checked = await envoy.check(envoyCheck);
if (checked.status?.code !== 0) throw new Error(`bench Check denied: ${checked.status?.message}`);
envoy.close();
authz.close();
// The peer inside this very process: what a constant grpc-js handler costs here (bare-grpc-server.ts).
const inProcessBare = await startBareGrpcServer(Buffer.from(toBinary(AuthorizeResponseSchema, check)));
process.stdout.write(
  `${JSON.stringify({
    address: mesh.address('authz'),
    inProcessBare: inProcessBare.address,
    sampler: mesh.telemetry.sampler,
    authorize: grpcFrame(toBinary(AuthorizeRequestSchema, create(AuthorizeRequestSchema, request))).toString('base64'),
    // What the bare grpc-js peer answers: the very response message Tollgate gives.
    authorizeResponse: Buffer.from(toBinary(AuthorizeResponseSchema, check)).toString('base64'),
    check: grpcFrame(toBinary(CheckRequestSchema, envoyCheck)).toString('base64'),
  })}\n`,
);
profileOnStdin();
process.stdin.on('end', () => {
  void inProcessBare.stop().then(() => mesh.stop()).then(() => process.exit(0));
});

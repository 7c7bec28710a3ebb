// The authorize-path bench's child process (authorize-path.bench.ts; run with --expose-gc and a fixed
// young generation): authz's Authorize handler exactly as grpc-js is given it — captured at
// `Server.addService` — called in process on a cached acl token with 100 rules, each call with a
// request decoded by the server's own deserializer and its answer serialized. No network, no
// grpc-js call machinery: Tollgate's own path (decode → libs/rpc's call wrapper and span → authz's
// decision → encode). Prints one JSON line: bytes allocated per call (heap growth over 1,000 calls
// between forced collections — a count, steady to ±1 % on a machine whose speed drifts), CPU µs
// per call, and with AUTHORIZE_PATH_SITES=N the N heaviest allocation sites (sampling heap profiler).
import { EventEmitter } from 'node:events';
import { Session } from 'node:inspector/promises';
import { PerformanceObserver } from 'node:perf_hooks';
import { Metadata, Server, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { create, toBinary } from '@bufbuild/protobuf';
import { AuthorizeRequestSchema, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { startTelemetry } from '#libs/telemetry/index.ts';
import { startTestMesh } from '../harness/mesh.ts';

type UnaryHandler = (call: unknown, callback: (error: unknown, value: unknown) => void) => void;

const registered: { definition: ServiceDefinition; implementation: UntypedServiceImplementation }[] = [];
const addService = Server.prototype.addService;
Server.prototype.addService = function (this: Server, definition: ServiceDefinition, implementation: UntypedServiceImplementation) {
  registered.push({ definition, implementation });
  return addService.call(this, definition, implementation);
};

// AUTHORIZE_PATH_SPANS=unread: no span processor in the process (no console ring, no OTLP), as in
// `tollgate start --service authz` without OTEL_EXPORTER_OTLP_ENDPOINT — the first telemetry of a
// process decides its processors, and the test mesh then shares them.
if (process.env['AUTHORIZE_PATH_SPANS'] === 'unread') startTelemetry({ serviceName: 'authorize-path', spanBufferSize: 0 });
const mesh = await startTestMesh();
const tenant = await mesh.createTenant('authorize-path');
const rules = Array.from({ length: 100 }, (_, i) => ({ effect: 'allow' as const, actions: ['publish'], resources: [`mqtt:devices/\${client_id}/sensor${i}/#`] }));
const { secret } = await mesh.authz!.core.createToken({ accountId: tenant.accountId, name: 'bench', kind: 'acl', rules, ipAllow: [], expiresAtMs: undefined, ttlSeconds: 0, shortForm: false, createdBy: 'bench' });
const authz = registered.find((r) => (r.definition as Record<string, { path?: string }>)['authorize']?.path === '/tollgate.authz.v1.AuthzService/Authorize')!;
const method = (authz.definition as Record<string, { requestDeserialize(bytes: Buffer): unknown; responseSerialize(value: unknown): Buffer }>)['authorize']!;
const handler = authz.implementation['authorize'] as unknown as UnaryHandler;
const body = Buffer.from(toBinary(AuthorizeRequestSchema, create(AuthorizeRequestSchema, { credential: { bearer: secret }, action: 'publish', resource: 'mqtt:devices/c1/sensor7/temp', clientId: 'c1' })));

/** What the handler reads of grpc-js's call object: metadata, deadline, peer, cancellation. */
class StandInCall extends EventEmitter {
  cancelled = false;
  metadata = new Metadata();
  request: unknown;
  constructor(request: unknown) {
    super();
    this.request = request;
  }
  getDeadline(): number {
    return Infinity;
  }
  getPeer(): string {
    return '127.0.0.1:40000';
  }
}

let answered = 0;
let failure: unknown;
const callback = (error: unknown, value: unknown) => {
  if (error) failure ??= error;
  else {
    method.responseSerialize(value);
    answered++;
  }
};
const one = () => handler(new StandInCall(method.requestDeserialize(Buffer.from(body))), callback);
/** `batches` × 1,000 calls, yielding between batches (the token cache's own timers, like a server's loop). */
async function calls(batches: number): Promise<void> {
  for (let b = 0; b < batches; b++) {
    for (let i = 0; i < 1_000; i++) one();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

one(); // the first call reads the token (a cache miss)
await new Promise((resolve) => setTimeout(resolve, 200));
await calls(50); // warm-up: the JIT settles
if (TokenKind.ACL === undefined || answered < 50_000 || failure) throw new Error(`Authorize did not answer from the cache: ${String(failure)}`);

let collections = 0;
new PerformanceObserver((list) => (collections += list.getEntries().length)).observe({ entryTypes: ['gc'] });
const bytesPerCall: number[] = [];
for (let reading = 0; reading < 7 && bytesPerCall.length < 5; reading++) {
  const expected = collections + 1;
  (globalThis as { gc?: () => void }).gc!();
  await new Promise((resolve) => setImmediate(resolve));
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 1_000; i++) one();
  const after = process.memoryUsage().heapUsed;
  await new Promise((resolve) => setImmediate(resolve));
  // Only readings no collection interrupted count.
  if (collections === expected) bytesPerCall.push(Math.round((after - before) / 1_000));
}

const cpuUsPerCall: number[] = [];
for (let round = 0; round < 5; round++) {
  const start = process.cpuUsage();
  await calls(50);
  const used = process.cpuUsage(start);
  cpuUsPerCall.push(Number(((used.user + used.system) / 50_000).toFixed(2)));
}

const sites: { bytesPerCall: number; site: string }[] = [];
const siteCount = Number(process.env['AUTHORIZE_PATH_SITES'] ?? 0);
if (siteCount > 0) {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', { samplingInterval: 128, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true });
  await calls(20);
  const { profile } = await session.post('HeapProfiler.stopSampling');
  session.disconnect();
  const bySite = new Map<string, number>();
  const walk = (node: typeof profile.head, stack: string[]) => {
    const frame = `${node.callFrame.functionName || '(anonymous)'} (${node.callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(libs|services|test|gen)\//, '$1/')}:${node.callFrame.lineNumber + 1})`;
    const path = [...stack, frame];
    if (node.selfSize) {
      const site = path.slice(-2).reverse().join(' < ');
      bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child, path);
  };
  walk(profile.head, []);
  for (const [site, size] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, siteCount)) sites.push({ bytesPerCall: Math.round(size / 20_000), site });
}

process.stdout.write(`${JSON.stringify({ bytesPerCall, cpuUsPerCall, sites })}\n`);
await mesh.stop();
process.exit(0);

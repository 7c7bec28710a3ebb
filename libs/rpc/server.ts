import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Server, type Metadata, type ServerUnaryCall, type ServerWritableStream, type ServerDuplexStream, type ServerReadableStream, type sendUnaryData, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import { file_grpc_health_v1_health } from '#gen/grpc/health/v1/health_pb.js';
import { create, toBinary, type DescFile, type DescMethod, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { context, propagation, trace, SpanKind, SpanStatusCode, metrics, type Context, type Histogram, type Meter, type Span, type Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { AppError, toAppError } from '#libs/errors/index.ts';
import type { CallContext } from './call-context.ts';
import { callScope, type CallScope } from '#libs/telemetry/call-scope.ts';
import { toGrpcStatus } from './status-details.ts';
import { toServiceDefinition, UndecodableRequest, type RequestDecoder } from './service-definition.ts';
import { findBadText, TEXT_CHECKED } from './request-text.ts';
import { serverCredentials, type RpcTlsConfig } from './tls.ts';
import type { ServiceImpl } from './types.ts';
import type { BoundHistogram, BoundHistograms } from '#libs/telemetry/bound-histograms.ts';

export interface RpcServerOptions {
  logger: Logger;
  tls?: RpcTlsConfig | undefined;
  /** Upper bound for a graceful shutdown before in-flight calls are cancelled. */
  shutdownGraceMs?: number;
  /** The service's own tracer and meter (libs/telemetry `forService`); the global ones when unset (tests). */
  telemetry?: { tracer: Tracer; meter: Meter; histograms?: BoundHistograms | undefined } | undefined;
}

export interface AddOptions<S extends DescService> {
  /** Hand-written decoders of the hottest requests (authz's Authorize), by method. */
  decoders?: Partial<Record<keyof ServiceImpl<S>, RequestDecoder>>;
}

export interface RpcServer {
  /**
   * Serves `impl`. RPCs it leaves out answer UNIMPLEMENTED naming the method, so a service can ship
   * the RPCs that are done while the rest of its contract is being built.
   */
  add<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>, options?: AddOptions<S>): void;
  /** Binds and starts serving; returns the bound port (port 0 picks a free one). */
  listen(host: string, port: number): Promise<number>;
  setServing(serving: boolean): void;
  shutdown(): Promise<void>;
}

const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Call durations in seconds (Prometheus convention), with buckets from 0.5 ms (a cached decision) to 10 s. */
export const RPC_DURATION_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Instruments {
  tracer: Tracer;
  meter: () => Meter;
  /** The service's bound histograms (libs/telemetry); unset: the meter's SDK histogram (tests, the global meter). */
  histograms: BoundHistograms | undefined;
  histogram?: Histogram;
}

const DURATION_NAME = 'rpc.server.duration_seconds';
const DURATION_DESCRIPTION = 'gRPC server call duration, by method and status code';

// Instruments are made on first use: the metrics API has no proxy, so one made before the SDK
// starts would stay a no-op forever.
const duration = (instruments: Instruments): Histogram =>
  (instruments.histogram ??= instruments.meter().createHistogram(DURATION_NAME, {
    unit: 's',
    description: DURATION_DESCRIPTION,
    advice: { explicitBucketBoundaries: RPC_DURATION_BUCKETS_SECONDS },
  }));

/** The duration recorder of one (method, status code): bound once, then a few additions per call. */
function durationRecorder(info: MethodInfo, code: string, instruments: Instruments): BoundHistogram {
  let recorder = info.durations.get(code);
  if (!recorder) {
    const attributes = Object.freeze({ 'rpc.method': info.rpc, 'rpc.grpc.status_code': code });
    const bound = instruments.histograms;
    recorder = bound
      ? bound.histogram(DURATION_NAME, { unit: 's', description: DURATION_DESCRIPTION, boundaries: RPC_DURATION_BUCKETS_SECONDS }).bind(attributes)
      : { record: (seconds: number) => duration(instruments).record(seconds, attributes) };
    info.durations.set(code, recorder);
  }
  return recorder;
}

const metadataGetter = {
  keys: (carrier: Metadata) => Object.keys(carrier.getMap()),
  get: (carrier: Metadata, key: string) => {
    const value = carrier.get(key)[0];
    return typeof value === 'string' ? value : undefined;
  },
};

export function createRpcServer(options: RpcServerOptions): RpcServer {
  // channelz (grpc-js's per-call introspection counters) is off: nothing here reads it, and it costs on every call.
  // Connections are recycled every ~5 min (GOAWAY; calls and streams in flight finish): clients
  // then reconnect and re-resolve the name, so a replica added behind a headless Service gets its
  // share of the calls (round robin only sees addresses it resolved).
  const server = new Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024, 'grpc.enable_channelz': 0, 'grpc.max_connection_age_ms': 300_000 });
  const health = new HealthImplementation({ '': 'NOT_SERVING' });
  const services: DescService[] = [];
  health.addToServer(server);
  const instruments: Instruments = options.telemetry
    ? { tracer: options.telemetry.tracer, meter: () => options.telemetry!.meter, histograms: options.telemetry.histograms }
    : { tracer: trace.getTracer('tollgate-rpc'), meter: () => metrics.getMeter('tollgate-rpc'), histograms: undefined };

  function add<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>, addOptions: AddOptions<S> = {}): void {
    const handlers: UntypedServiceImplementation = {};
    const table = impl as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const method of service.methods) {
      const fn = table[method.localName];
      const handler =
        typeof fn === 'function'
          ? fn.bind(impl)
          : () => {
              throw new AppError('UNIMPLEMENTED', `${service.typeName}/${method.name} is not implemented in this release`);
            };
      if (typeof fn === 'function' && (fn as { [CHECKS_REQUEST]?: boolean })[CHECKS_REQUEST]) (handler as { [CHECKS_REQUEST]?: boolean })[CHECKS_REQUEST] = true;
      handlers[method.localName] = wrapHandler(method, handler, options.logger, instruments);
    }
    server.addService(toServiceDefinition(service, addOptions.decoders as Record<string, RequestDecoder> | undefined), handlers);
    services.push(service);
    health.setStatus(service.typeName, 'NOT_SERVING');
  }

  function setServing(serving: boolean): void {
    const status = serving ? 'SERVING' : 'NOT_SERVING';
    health.setStatus('', status);
    for (const service of services) health.setStatus(service.typeName, status);
  }

  async function listen(host: string, port: number): Promise<number> {
    new ReflectionService(reflectionRoot(services) as never).addToServer(server);
    const bound = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, serverCredentials(options.tls), (error, p) =>
        error ? reject(new AppError('UNAVAILABLE', `cannot listen on ${host}:${port}: ${error.message}`, { cause: error })) : resolve(p),
      );
    });
    setServing(true);
    return bound;
  }

  async function shutdown(): Promise<void> {
    setServing(false);
    const grace = options.shutdownGraceMs ?? 5_000;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, grace);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  return { add, listen, setServing, shutdown };
}

/**
 * Reflection needs the FileDescriptorProtos of every served file and its imports. All of them come
 * from buf-compiled descriptors (protobuf-es), grpc.health.v1 included: proto-loader's rebuilt
 * health descriptor declares its map entry by hand, which strict descriptor pools (Python's
 * protobuf, `buf curl`, grpcurl) refuse ("map_entry should not be set explicitly").
 */
function reflectionRoot(services: DescService[]): Record<string, unknown> {
  const files = new Map<string, DescFile>();
  const visit = (file: DescFile): void => {
    if (files.has(file.name)) return;
    files.set(file.name, file);
    file.dependencies.forEach(visit);
  };
  visit(file_grpc_health_v1_health);
  services.forEach((s) => visit(s.file));
  const protos = [...files.values()].map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)));
  return { 'tollgate.reflection.files': { fileDescriptorProtos: protos } };
}

type Call = ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown> | ServerReadableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

/** What every call of one method shares: its name, its span's constant attributes, its duration recorders by status code. */
interface MethodInfo {
  rpc: string;
  spanAttributes: Readonly<Record<string, string>>;
  durations: Map<string, BoundHistogram>;
  /** The recorder of status OK, the usual one (no map look-up). */
  ok: BoundHistogram | undefined;
}

function methodInfo(method: DescMethod): MethodInfo {
  const rpc = `${method.parent.typeName}/${method.name}`;
  return { rpc, spanAttributes: { 'rpc.system': 'grpc', 'rpc.service': method.parent.typeName, 'rpc.method': method.name }, durations: new Map(), ok: undefined };
}

// Request ids are correlation ids, unique rather than secret: this process's random 64-bit prefix
// and a counter (`req_` + 32 hex, as before) instead of a UUID's random bytes on every call.
const REQUEST_ID_PREFIX = `req_${randomBytes(8).toString('hex')}`;
let requestCounter = 0;
const newRequestId = (): string => `${REQUEST_ID_PREFIX}${(requestCounter++).toString(16).padStart(16, '0')}`;

const SERVER_SPAN = Object.freeze({ kind: SpanKind.SERVER });

const cancelledError = () => new AppError('CANCELLED', 'call cancelled by the client');

/**
 * Per-call bookkeeping, and the handler's CallContext. This runs on every call of the hot RPCs
 * (authz's Authorize, Envoy's Check), so it is one object (no closures per call), and what a
 * handler rarely needs is made on first use: the child logger (pino's child() is not cheap and
 * most calls log nothing at info), the peer address, and the abort signal with its deadline timer
 * and its cancellation listener (unary handlers almost never look at it; deadline propagation
 * reads `deadlineMs`), and the request id. Per-method strings and attribute sets are made once (MethodInfo).
 */
class ServerCall implements CallContext, CallScope {
  readonly deadlineMs: number | undefined;
  readonly rpc: string;
  readonly span: Span;
  readonly #info: MethodInfo;
  readonly #call: Call & { cancelled: boolean };
  readonly #logger: Logger;
  readonly #instruments: Instruments;
  /** The caller's trace context (propagated), and the call's own (its span active) once asked for. */
  readonly #parent: Context;
  #otel: Context | undefined;
  readonly #started: number;
  #abort: AbortController | undefined;
  #timer: NodeJS.Timeout | undefined;
  #onCancel: (() => void) | undefined;
  #finished = false;
  #child: Logger | undefined;
  #peer: string | undefined;
  #requestId: string | undefined;

  constructor(info: MethodInfo, call: Call, logger: Logger, instruments: Instruments) {
    this.#info = info;
    this.#call = call as Call & { cancelled: boolean };
    this.#logger = logger;
    this.#instruments = instruments;
    this.rpc = info.rpc;
    const metadata = call.metadata;
    const rawDeadline = call.getDeadline();
    this.deadlineMs = rawDeadline instanceof Date ? rawDeadline.getTime() : Number.isFinite(rawDeadline) ? Number(rawDeadline) : undefined;
    const parent = propagation.extract(context.active(), metadata, metadataGetter);
    // Attributes are given after the sampler's decision, and only to a span that records: an
    // unsampled call (OTEL_TRACES_SAMPLER) pays for no attribute at all — the SDK cleans a start
    // span's attributes before it samples.
    const span = instruments.tracer.startSpan(info.rpc, SERVER_SPAN, parent);
    this.span = span;
    if (span.isRecording()) {
      span.setAttributes(info.spanAttributes);
      span.setAttribute('tollgate.request_id', this.requestId);
    }
    this.#parent = parent;
    this.#started = performance.now();
  }

  /**
   * The call's trace context (its span active): with `call`, the call scope its handler runs in.
   * Made when first asked for (a child span, a client call): a handler answered from memory never asks.
   */
  get otel(): Context {
    return (this.#otel ??= trace.setSpan(this.#parent, this.span));
  }

  get signal(): AbortSignal {
    if (this.#abort) return this.#abort.signal;
    const controller = new AbortController();
    this.#abort = controller;
    // grpc-js sets `cancelled` before it emits 'cancelled': a cancellation before this first use is seen here.
    if (this.#call.cancelled) controller.abort(cancelledError());
    else if (!this.#finished) {
      this.#onCancel = () => controller.abort(cancelledError());
      (this.#call as NodeJS.EventEmitter).once('cancelled', this.#onCancel);
      if (this.deadlineMs !== undefined) {
        this.#timer = setTimeout(() => controller.abort(new AppError('DEADLINE_EXCEEDED', 'deadline exceeded')), Math.max(0, this.deadlineMs - Date.now()));
        this.#timer.unref();
      }
    }
    return controller.signal;
  }

  /** The caller's `x-request-id` when well-formed, else a new one: read on first use (most calls of a hot RPC never ask). */
  get requestId(): string {
    if (this.#requestId === undefined) {
      const incoming = this.#call.metadata.get('x-request-id')[0];
      this.#requestId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : newRequestId();
    }
    return this.#requestId;
  }

  get peer(): string {
    return (this.#peer ??= this.#call.getPeer());
  }

  get logger(): Logger {
    return (this.#child ??= this.#logger.child({ requestId: this.requestId, traceId: this.span.spanContext().traceId, rpc: this.rpc }));
  }

  header(name: string): string | undefined {
    const value = this.#call.metadata.get(name.toLowerCase())[0];
    return typeof value === 'string' ? value : undefined;
  }

  /** The call itself, in its scope: `currentCall`. */
  get call(): ServerCall {
    return this;
  }

  /**
   * Runs `fn(this, a, b)` with the call's span active and the call as `currentCall`: the call is its
   * own scope (libs/telemetry's call scope), one async context frame for both.
   */
  run<T, A = undefined, B = undefined>(fn: (call: ServerCall, a: A, b: B) => T, a?: A, b?: B): T {
    return callScope.run(this, fn, this, a as A, b as B);
  }

  finish(error?: unknown): void {
    this.#finished = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#onCancel) (this.#call as NodeJS.EventEmitter).removeListener('cancelled', this.#onCancel);
    const elapsed = performance.now() - this.#started;
    const span = this.span;
    const recording = span.isRecording();
    let code = 'OK';
    if (error !== undefined) {
      const appError = toAppError(error);
      code = appError.code;
      if (recording) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: appError.publicMessage });
        span.setAttribute('tollgate.error_reason', appError.reason);
      }
      if (appError.code === 'INTERNAL') this.logger.error({ err: appError.cause ?? appError }, 'rpc failed');
      else if (this.#logger.isLevelEnabled('debug')) this.logger.debug({ code, reason: appError.reason, elapsedMs: elapsed }, 'rpc error');
    } else if (this.#logger.isLevelEnabled('debug')) {
      this.logger.debug({ elapsedMs: elapsed }, 'rpc ok');
    }
    if (recording) {
      span.setAttribute('rpc.grpc.status_code', code);
      span.end();
    }
    const info = this.#info;
    const recorder = code === 'OK' ? (info.ok ??= durationRecorder(info, code, this.#instruments)) : durationRecorder(info, code, this.#instruments);
    recorder.record(elapsed / 1_000);
  }
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';

/**
 * Set on a handler that checks its request itself (assertWellFormed) after authenticating the
 * caller — libs/admin-auth's authenticatedFirst — so that a call without a credential is answered
 * UNAUTHENTICATED before anything about its request is judged.
 */
export const CHECKS_REQUEST = Symbol.for('tollgate.rpc.checksRequest');

/**
 * Refuses a single request that did not decode, or that holds text no service may store (NUL,
 * unpaired surrogates, U+FFFE/U+FFFF: see request-text.ts). The server runs it before every
 * handler not marked CHECKS_REQUEST.
 */
export function assertWellFormed(method: DescMethod, request: unknown): void {
  if (request instanceof UndecodableRequest) {
    throw new AppError('INVALID_ARGUMENT', `request: not a valid ${method.input.typeName} (${request.problem})`, { reason: 'MESSAGE_UNDECODABLE' });
  }
  if ((request as { [TEXT_CHECKED]?: boolean })[TEXT_CHECKED] === true) return;
  const bad = findBadText(method.input, request);
  if (bad) throw new AppError('INVALID_ARGUMENT', `${bad.field}: ${bad.problem}`, { field: bad.field, reason: 'FIELD_INVALID' });
}

/**
 * The account and MQTT client a unary request names, as span attributes: what operators search
 * traces by (the console's /traces). Ids only — never a credential or a payload.
 */
function tagRequest(span: Span, request: unknown): void {
  if (typeof request !== 'object' || request === null || !span.isRecording()) return;
  const { accountId, clientId } = request as { accountId?: unknown; clientId?: unknown };
  if (typeof accountId === 'string' && accountId) span.setAttribute('tollgate.account_id', accountId.slice(0, 128));
  if (typeof clientId === 'string' && clientId) span.setAttribute('mqtt.client_id', clientId.slice(0, 256));
}

function wrapHandler(method: DescMethod, fn: (...args: unknown[]) => unknown, logger: Logger, instruments: Instruments) {
  const output = method.output;
  const info = methodInfo(method);
  const toMessage = (init: unknown) => create(output, init as never);
  switch (method.methodKind) {
    case 'unary': {
      const checks = !(fn as { [CHECKS_REQUEST]?: boolean })[CHECKS_REQUEST];
      const answer = (r: ServerCall, callback: sendUnaryData<unknown>, value: unknown): void => {
        let response: unknown;
        try {
          // A handler's EncodedMessage (a Buffer) is sent as is (service-definition.ts).
          response = Buffer.isBuffer(value) ? value : toMessage(value);
        } catch (error) {
          fail(r, callback, error);
          return;
        }
        r.finish();
        callback(null, response);
      };
      const fail = (r: ServerCall, callback: sendUnaryData<unknown>, error: unknown): void => {
        r.finish(error);
        callback(toGrpcStatus(error));
      };
      // No closures per call: decode check, handler, answer, bookkeeping. A handler may answer with
      // a value (authz's Authorize on a cached credential): then the call is answered within
      // grpc-js's callback, without a promise; a promise is awaited as before.
      const serve = (r: ServerCall, call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void => {
        let result: unknown;
        try {
          if (checks) assertWellFormed(method, call.request);
          result = fn(call.request, r);
        } catch (error) {
          fail(r, callback, error);
          return;
        }
        if (isThenable(result)) {
          result.then(
            (value: unknown) => answer(r, callback, value),
            (error: unknown) => fail(r, callback, error),
          );
        } else answer(r, callback, result);
      };
      return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const r = new ServerCall(info, call, logger, instruments);
        tagRequest(r.span, call.request);
        r.run(serve, call, callback);
      };
    }
    case 'client_streaming':
      return (call: ServerReadableStream<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const r = new ServerCall(info, call, logger, instruments);
        r.run(async () => toMessage(await fn(call, r))).then(
          (response) => {
            r.finish();
            callback(null, response);
          },
          (error: unknown) => {
            r.finish(error);
            callback(toGrpcStatus(error));
          },
        );
      };
    case 'server_streaming':
    case 'bidi_streaming':
      return (call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>) => {
        const r = new ServerCall(info, call, logger, instruments);
        const input = method.methodKind === 'server_streaming' ? (call as ServerWritableStream<unknown, unknown>).request : call;
        r.run(async () => {
          if (method.methodKind === 'server_streaming' && !(fn as { [CHECKS_REQUEST]?: boolean })[CHECKS_REQUEST]) assertWellFormed(method, input);
          const stream = fn(input, r) as AsyncIterable<unknown>;
          for await (const message of stream) {
            if (r.signal.aborted) break;
            if (!call.write(toMessage(message))) {
              await Promise.race([once(call, 'drain'), once(r.signal, 'abort')]);
            }
          }
        }).then(
          () => {
            r.finish();
            if (!r.signal.aborted) call.end();
          },
          (error: unknown) => {
            r.finish(error);
            if (!r.signal.aborted) call.emit('error', toGrpcStatus(error));
          },
        );
      };
  }
}

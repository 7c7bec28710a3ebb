import { Client, Metadata, type ClientReadableStream, type ClientDuplexStream, type ServiceError, type ChannelOptions } from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type DescMethod, type DescService } from '@bufbuild/protobuf';
import { context, propagation, trace, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { currentCall } from './call-context.ts';
import { isIdempotent } from './idempotent-methods.ts';
import { methodPath } from './service-definition.ts';
import { fromGrpcError } from './status-details.ts';
import { channelCredentials, type RpcClientTlsConfig } from './tls.ts';
import type { CallOptions, ServiceClient } from './types.ts';

export interface RpcClientOptions {
  /** Default deadline for unary and client-streaming calls; streams from the server have none unless given. */
  defaultDeadlineMs?: number;
  tls?: RpcClientTlsConfig | undefined;
  channelOptions?: ChannelOptions;
  /** Metadata sent with every call (e.g. a service credential as `authorization`); per-call headers win. */
  headers?: Record<string, string>;
  /** The calling service's tracer (its `service.name` on client spans); the global one when unset. */
  tracer?: Tracer | undefined;
  /** Which methods are retried on UNAVAILABLE; default: the table in idempotent-methods.ts. */
  isIdempotent?: (method: DescMethod) => boolean;
}

/**
 * How a channel spreads and retries: `round_robin` over every address the target resolves to (a
 * DNS name with one A/AAAA record per replica, e.g. a Kubernetes headless Service, or a fixed
 * `ipv4:a:p,b:p` list) — a replica that goes away drops out of the rotation and calls go to the
 * others; and, for idempotent methods only, up to 3 attempts on UNAVAILABLE (a connection lost mid
 * call), each within the call's deadline.
 */
export function serviceConfig(service: DescService, idempotent: (method: DescMethod) => boolean): string {
  const retried = service.methods.filter(idempotent).map((m) => ({ service: service.typeName, method: m.name }));
  return JSON.stringify({
    loadBalancingConfig: [{ round_robin: {} }],
    methodConfig: retried.length
      ? [{ name: retried, retryPolicy: { maxAttempts: 3, initialBackoff: '0.02s', maxBackoff: '0.2s', backoffMultiplier: 2, retryableStatusCodes: ['UNAVAILABLE'] } }]
      : [],
  });
}

const setter = { set: (carrier: Metadata, key: string, value: string) => carrier.set(key, value) };

/**
 * A typed client over one channel. Every call carries the trace context and the request id of the
 * call being served (if any), and never a deadline later than that call's: deadlines propagate.
 */
export function createRpcClient<S extends DescService>(service: S, address: string, options: RpcClientOptions = {}): ServiceClient<S> {
  // A peer that was down (services start in any order; one restarts) is retried within 5 s, not
  // grpc-js's default of up to 120 s of backoff, during which every call fails fast UNAVAILABLE.
  const channelOptions: ChannelOptions = {
    'grpc.keepalive_time_ms': 30_000,
    'grpc.max_reconnect_backoff_ms': 5_000,
    'grpc.service_config': serviceConfig(service, options.isIdempotent ?? isIdempotent),
    ...options.channelOptions,
  };
  if (options.tls?.serverName) channelOptions['grpc.ssl_target_name_override'] = options.tls.serverName;
  const client = new Client(address, channelCredentials(options.tls), channelOptions);
  const defaultDeadlineMs = options.defaultDeadlineMs ?? 5_000;
  const api: Record<string, unknown> = { close: () => client.close() };
  const tracer = options.tracer ?? trace.getTracer('tollgate-rpc');

  for (const method of service.methods) {
    const path = methodPath(method);
    const serialize = (init: unknown) => Buffer.from(toBinary(method.input, create(method.input, init as never)));
    const deserialize = (bytes: Buffer) => fromBinary(method.output, bytes);
    const spanName = `${method.parent.typeName}/${method.name}`;
    const spanAttributes = Object.freeze({ 'rpc.system': 'grpc', 'rpc.service': method.parent.typeName, 'rpc.method': method.name });
    const prepare = (opts: CallOptions | undefined, streamingResponse: boolean) => {
      const metadata = new Metadata();
      for (const [k, v] of Object.entries({ ...options.headers, ...opts?.headers })) metadata.set(k.toLowerCase(), v);
      const parentCall = currentCall.getStore();
      if (parentCall && !metadata.get('x-request-id').length) metadata.set('x-request-id', parentCall.requestId);
      // Attributes only on a span that records (an unsampled trace's span pays for none).
      const span = tracer.startSpan(spanName, CLIENT_SPAN);
      if (span.isRecording()) span.setAttributes(spanAttributes);
      propagation.inject(trace.setSpan(context.active(), span), metadata, setter);
      const own = opts?.deadlineMs ?? (streamingResponse ? undefined : defaultDeadlineMs);
      const candidates = [own === undefined ? undefined : Date.now() + own, parentCall?.deadlineMs].filter((d): d is number => d !== undefined);
      const deadline = candidates.length ? Math.min(...candidates) : undefined;
      const end = (error?: Error) => {
        if (error && span.isRecording()) span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
        span.end();
      };
      // A call with a deadline waits for the channel to connect (up to that deadline) instead of
      // failing at once while the channel is between attempts — a peer that started after us, or
      // came back, is used as soon as it answers. Nothing has been sent while waiting, so this is
      // safe for calls that are not idempotent; streams without a deadline keep failing fast.
      if (deadline !== undefined) metadata.setOptions({ waitForReady: true });
      return { metadata, callOptions: deadline === undefined ? {} : { deadline }, end };
    };

    api[method.localName] = makeCaller(method, client, path, serialize, deserialize, prepare);
  }
  return api as ServiceClient<S>;
}

const CLIENT_SPAN = Object.freeze({ kind: SpanKind.CLIENT });

type Prepared = { metadata: Metadata; callOptions: { deadline?: number }; end: (error?: Error) => void };

function makeCaller(
  method: DescMethod,
  client: Client,
  path: string,
  serialize: (v: unknown) => Buffer,
  deserialize: (b: Buffer) => unknown,
  prepare: (opts: CallOptions | undefined, streamingResponse: boolean) => Prepared,
) {
  const abortWith = (signal: AbortSignal | undefined, cancel: () => void) => {
    if (!signal) return () => {};
    if (signal.aborted) cancel();
    signal.addEventListener('abort', cancel, { once: true });
    return () => signal.removeEventListener('abort', cancel);
  };

  switch (method.methodKind) {
    case 'unary':
      return (request: unknown, opts?: CallOptions) => {
        const p = prepare(opts, false);
        return new Promise((resolve, reject) => {
          const call = client.makeUnaryRequest(path, serialize, deserialize, request, p.metadata, p.callOptions, (error: ServiceError | null, value?: unknown) => {
            detach();
            p.end(error ?? undefined);
            if (error) reject(fromGrpcError(error));
            else resolve(value);
          });
          const detach = abortWith(opts?.signal, () => call.cancel());
        });
      };
    case 'client_streaming':
      return (requests: AsyncIterable<unknown>, opts?: CallOptions) => {
        const p = prepare(opts, false);
        return new Promise((resolve, reject) => {
          const call = client.makeClientStreamRequest(path, serialize, deserialize, p.metadata, p.callOptions, (error: ServiceError | null, value?: unknown) => {
            detach();
            p.end(error ?? undefined);
            if (error) reject(fromGrpcError(error));
            else resolve(value);
          });
          const detach = abortWith(opts?.signal, () => call.cancel());
          void pump(requests, call);
        });
      };
    case 'server_streaming':
      return (request: unknown, opts?: CallOptions) => {
        const p = prepare(opts, true);
        const call = client.makeServerStreamRequest(path, serialize, deserialize, request, p.metadata, p.callOptions);
        return readAll(call, opts?.signal, p.end, abortWith);
      };
    case 'bidi_streaming':
      return (requests: AsyncIterable<unknown>, opts?: CallOptions) => {
        const p = prepare(opts, true);
        const call = client.makeBidiStreamRequest(path, serialize, deserialize, p.metadata, p.callOptions);
        void pump(requests, call);
        return readAll(call, opts?.signal, p.end, abortWith);
      };
  }
}

async function pump(requests: AsyncIterable<unknown>, call: { write(v: unknown): boolean; end(): void; cancel(): void; once(e: string, l: () => void): unknown }): Promise<void> {
  try {
    for await (const request of requests) {
      if (!call.write(request)) await new Promise<void>((resolve) => call.once('drain', resolve));
    }
    call.end();
  } catch {
    call.cancel();
  }
}

async function* readAll(
  call: ClientReadableStream<unknown> | ClientDuplexStream<unknown, unknown>,
  signal: AbortSignal | undefined,
  end: (error?: Error) => void,
  abortWith: (signal: AbortSignal | undefined, cancel: () => void) => () => void,
): AsyncGenerator<unknown> {
  const detach = abortWith(signal, () => call.cancel());
  try {
    for await (const message of call) yield message;
    end();
  } catch (error) {
    end(error as Error);
    throw fromGrpcError(error as ServiceError);
  } finally {
    detach();
    // Leaving the loop early (break/return) cancels the server stream instead of leaking it.
    call.cancel();
  }
}

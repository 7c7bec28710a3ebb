import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, credentials, loadPackageDefinition, status, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { createRequire } from 'node:module';
import { trace } from '@opentelemetry/api';
import { fromBinary } from '@bufbuild/protobuf';
import { EchoRequestSchema, EchoService } from '#gen/tollgate/echo/v1/echo_pb.js';
import { TEXT_CHECKED } from './request-text.ts';
import { AppError } from '#libs/errors/index.ts';
import { silentLogger, startTelemetry, type Telemetry } from '#libs/telemetry/index.ts';
import { createRpcClient, createRpcServer, type RpcServer } from './index.ts';
import { createEchoService } from './echo-service.ts';

const require = createRequire(import.meta.url);

describe('libs/rpc adapter', () => {
  let telemetry: Telemetry;
  let back: RpcServer;
  let front: RpcServer;
  let backAddr: string;
  let frontAddr: string;
  const impls: { close(): void }[] = [];

  beforeAll(async () => {
    telemetry = startTelemetry({ serviceName: 'rpc-test' });
    back = createRpcServer({ logger: silentLogger() });
    const backImpl = createEchoService();
    impls.push(backImpl);
    back.add(EchoService, backImpl);
    backAddr = `127.0.0.1:${await back.listen('127.0.0.1', 0)}`;
    front = createRpcServer({ logger: silentLogger() });
    const frontImpl = createEchoService({ forwardTo: backAddr });
    impls.push(frontImpl);
    front.add(EchoService, frontImpl);
    frontAddr = `127.0.0.1:${await front.listen('127.0.0.1', 0)}`;
  });

  afterAll(async () => {
    impls.forEach((i) => i.close());
    await Promise.all([back.shutdown(), front.shutdown()]);
    await telemetry.shutdown();
  });

  it('round-trips a unary call and carries the request id', async () => {
    const client = createRpcClient(EchoService, backAddr);
    const res = await client.echo({ message: 'hi' }, { headers: { 'x-request-id': 'req_abc' } });
    expect(res.message).toBe('hi');
    expect(res.requestId).toBe('req_abc');
    client.close();
  });

  it('streams from the server', async () => {
    const client = createRpcClient(EchoService, backAddr);
    const got: number[] = [];
    for await (const item of client.echoStream({ message: 'x', count: 5 })) got.push(item.index);
    expect(got).toEqual([0, 1, 2, 3, 4]);
    client.close();
  });

  it('streams both ways', async () => {
    const client = createRpcClient(EchoService, backAddr);
    async function* input() {
      yield { message: 'a' };
      yield { message: 'b' };
    }
    const got: string[] = [];
    for await (const item of client.echoBidi(input())) got.push(item.message);
    expect(got).toEqual(['A', 'B']);
    client.close();
  });

  it('answers DEADLINE_EXCEEDED when the deadline passes', async () => {
    const client = createRpcClient(EchoService, backAddr);
    const error = await client.echo({ message: 'slow', delayMs: 2_000 }, { deadlineMs: 50 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('DEADLINE_EXCEEDED');
    client.close();
  });

  it('maps AppError to a status with ErrorInfo, and back', async () => {
    const client = createRpcClient(EchoService, backAddr);
    const error = (await client.echo({ failWith: 'INVALID_ARGUMENT' }).catch((e: unknown) => e)) as AppError;
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.field).toBe('fail_with');
    expect(error.details.secretless).toBe('yes');
    const bad = await drain(client.echoStream({ count: 1_000_000 }));
    expect((bad as AppError).code).toBe('INVALID_ARGUMENT');
    client.close();
  });

  it('answers INVALID_ARGUMENT, not INTERNAL, for bytes that are not the request message', async () => {
    // A raw client: the bytes go out as they are (field 1, wire type 2, a length past the end).
    const raw = new Client(backAddr, credentials.createInsecure());
    const call = (bytes: Buffer) =>
      new Promise<{ code: number; details: string }>((resolve) => {
        raw.makeUnaryRequest('/tollgate.echo.v1.EchoService/Echo', (b: Buffer) => b, (b: Buffer) => b, bytes, (error) => resolve({ code: error?.code ?? 0, details: error?.details ?? '' }));
      });
    const garbage = await call(Buffer.from([0x0a, 0x7f, 0x41]));
    expect(garbage.code).toBe(status.INVALID_ARGUMENT);
    expect(garbage.details).toMatch(/^request: not a valid tollgate\.echo\.v1\.EchoRequest/);
    const nul = await call(Buffer.from([0x0a, 0x03, 0x61, 0x00, 0x62]));
    expect(nul.code).toBe(status.INVALID_ARGUMENT);
    expect(nul.details).toBe('message: must not contain NUL (U+0000)');
    // The server is unharmed: a good request after the bad ones is answered.
    expect((await call(Buffer.from([0x0a, 0x02, 0x68, 0x69]))).code).toBe(0);
    raw.close();
  });

  it('refuses text no service may store in any string, naming the field', async () => {
    const client = createRpcClient(EchoService, backAddr);
    for (const [value, problem] of [
      ['a\u0000b', 'must not contain NUL (U+0000)'],
      ['a\uFFFFb', 'must not contain the noncharacters U+FFFE or U+FFFF'],
      ['a\uFFFEb', 'must not contain the noncharacters U+FFFE or U+FFFF'],
    ] as const) {
      const error = (await client.echo({ message: value }).catch((e: unknown) => e)) as AppError;
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.field).toBe('message');
      expect(error.message).toBe(`message: ${problem}`);
    }
    const streamed = (await drain(client.echoStream({ message: 'x\u0000', count: 1 }))) as AppError;
    expect(streamed.code).toBe('INVALID_ARGUMENT');
    expect((await client.echo({ message: 'emoji 😀 and é are fine' })).message).toBe('emoji 😀 and é are fine');
    client.close();
  });

  it('hides the text of unknown errors behind INTERNAL', async () => {
    const client = createRpcClient(EchoService, backAddr);
    const error = (await client.echo({ failWith: 'INTERNAL' }).catch((e: unknown) => e)) as AppError;
    expect(error.code).toBe('INTERNAL');
    expect(error.message).toBe('internal error');
    client.close();
  });

  it('answers UNIMPLEMENTED, naming the method, for an RPC a service leaves out', async () => {
    const partial = createRpcServer({ logger: silentLogger() });
    partial.add(EchoService, { echo: async (req) => ({ message: req.message }) });
    const address = `127.0.0.1:${await partial.listen('127.0.0.1', 0)}`;
    const client = createRpcClient(EchoService, address);
    expect((await client.echo({ message: 'x' })).message).toBe('x');
    const error = (await drain(client.echoStream({ count: 1 }))) as AppError;
    expect(error.code).toBe('UNIMPLEMENTED');
    expect(error.message).toContain('tollgate.echo.v1.EchoService/EchoStream');
    client.close();
    await partial.shutdown();
  });

  it('serves grpc.health.v1 to an independent client', async () => {
    const pkg = loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as GrpcObject;
    const Health = ((pkg.grpc as GrpcObject).health as GrpcObject).v1 as GrpcObject;
    const client = new (Health.Health as ServiceClientConstructor)(backAddr, credentials.createInsecure());
    const check = (service: string) =>
      new Promise<string>((resolve, reject) =>
        client.Check!({ service }, (e: Error | null, r: { status: string }) => (e ? reject(e) : resolve(r.status))),
      );
    expect(await check('')).toBe('SERVING');
    expect(await check('tollgate.echo.v1.EchoService')).toBe('SERVING');
    client.close();
  });

  it('lists services through server reflection', async () => {
    const protoFile = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
    const pkg = loadPackageDefinition(loadSync(protoFile)) as GrpcObject;
    const v1 = ((pkg.grpc as GrpcObject).reflection as GrpcObject).v1 as GrpcObject;
    const client = new (v1.ServerReflection as ServiceClientConstructor)(backAddr, credentials.createInsecure());
    const call = client.ServerReflectionInfo!();
    const answer = new Promise<string[]>((resolve, reject) => {
      call.on('data', (r: { listServicesResponse?: { service: { name: string }[] } }) => resolve(r.listServicesResponse?.service.map((s) => s.name) ?? []));
      call.on('error', reject);
    });
    call.write({ listServices: '*' });
    const names = await answer;
    call.end();
    client.close();
    expect(names).toContain('tollgate.echo.v1.EchoService');
    expect(names).toContain('grpc.health.v1.Health');
  });

  it('traces one request across two services (parent/child over a real gRPC hop)', async () => {
    const client = createRpcClient(EchoService, frontAddr);
    const res = await client.echo({ message: 'trace me' });
    client.close();
    expect(res.message).toBe('trace me');
    const spans = telemetry.spans.list({ traceId: res.traceId });
    const serverSpans = spans.filter((s) => s.kind === 1 && s.name === 'tollgate.echo.v1.EchoService/Echo');
    const hop = spans.find((s) => s.kind === 2 && s.name === 'tollgate.echo.v1.EchoService/Echo' && serverSpans.some((p) => p.spanId === s.parentSpanId));
    expect(hop).toBeDefined();
    const backSpan = serverSpans.find((s) => s.parentSpanId === hop?.spanId);
    expect(backSpan).toBeDefined();
    // The outermost client span (this test's call) is the root of the trace.
    expect(spans.some((s) => s.kind === 2 && s.parentSpanId === undefined)).toBe(true);
  });

  it("uses a method's own request decoder first, and protobuf-es with the text check for what it leaves", async () => {
    const server = createRpcServer({ logger: silentLogger() });
    const seen: string[] = [];
    server.add(
      EchoService,
      { echo: (request) => ({ message: request.message, requestId: '', traceId: '' }) },
      {
        decoders: {
          // Reads messages starting with "hand" itself (marking them text-checked, as a real decoder does
          // once it has checked them); declines the rest.
          echo: (bytes) => {
            const message = fromBinary(EchoRequestSchema, bytes);
            if (!message.message.startsWith('hand')) return undefined;
            seen.push(message.message);
            return { ...message, message: `${message.message} (by hand)`, [TEXT_CHECKED]: true };
          },
        },
      },
    );
    const client = createRpcClient(EchoService, `127.0.0.1:${await server.listen('127.0.0.1', 0)}`);
    try {
      expect((await client.echo({ message: 'hand-made' })).message).toBe('hand-made (by hand)');
      expect((await client.echo({ message: 'plain' })).message).toBe('plain');
      // Declined by the decoder: protobuf-es, then the text check names the field.
      const declined = (await client.echo({ message: 'a\u0000b' }).catch((e: unknown) => e)) as AppError;
      expect(declined.code).toBe('INVALID_ARGUMENT');
      expect(declined.field).toBe('message');
      // A message its decoder marked checked is not walked again: the decoder answers for its text.
      expect((await client.echo({ message: 'hand\u0000' })).message).toBe('hand\u0000 (by hand)');
      expect(seen).toEqual(['hand-made', 'hand\u0000']);
    } finally {
      client.close();
      await server.shutdown();
    }
  });

  it('answers a handler that returns a value (no promise) or throws at once, with its span and duration', async () => {
    const service = telemetry.forService('rpc-sync-test');
    const server = createRpcServer({ logger: silentLogger(), telemetry: service });
    server.add(EchoService, {
      echo(request, ctx) {
        if (request.failWith) throw new AppError('PERMISSION_DENIED', 'refused at once');
        return { message: request.message, requestId: ctx.requestId, traceId: trace.getActiveSpan()?.spanContext().traceId ?? '' };
      },
    });
    const client = createRpcClient(EchoService, `127.0.0.1:${await server.listen('127.0.0.1', 0)}`);
    try {
      const res = await client.echo({ message: 'now' }, { headers: { 'x-request-id': 'req_sync' } });
      expect(res).toMatchObject({ message: 'now', requestId: 'req_sync' });
      expect(telemetry.spans.list({ traceId: res.traceId }).some((s) => s.kind === 1 && s.name === 'tollgate.echo.v1.EchoService/Echo')).toBe(true);
      const error = (await client.echo({ failWith: 'x' }).catch((e: unknown) => e)) as AppError;
      expect(error.code).toBe('PERMISSION_DENIED');
      const text = await service.metricsText();
      expect(text).toMatch(/^rpc_server_duration_seconds_count\{rpc_method="tollgate\.echo\.v1\.EchoService\/Echo",rpc_grpc_status_code="OK"\} 1$/m);
      expect(text).toMatch(/^rpc_server_duration_seconds_count\{rpc_method="tollgate\.echo\.v1\.EchoService\/Echo",rpc_grpc_status_code="PERMISSION_DENIED"\} 1$/m);
      expect(text).toMatch(/^rpc_server_duration_seconds_bucket\{rpc_method="tollgate\.echo\.v1\.EchoService\/Echo",rpc_grpc_status_code="OK",le="\+Inf"\} 1$/m);
    } finally {
      client.close();
      await server.shutdown();
    }
  });
});

async function drain(stream: AsyncIterable<unknown>): Promise<unknown> {
  try {
    for await (const _ of stream) {
      // nothing
    }
    return undefined;
  } catch (error) {
    return error;
  }
}

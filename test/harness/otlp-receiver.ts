/**
 * A small OTLP/HTTP trace receiver for tests: what an OpenTelemetry Collector's `otlphttp`
 * receiver does for `POST /v1/traces`, keeping every span it is sent. Services point at it with
 * `OTEL_EXPORTER_OTLP_ENDPOINT=<url>` and export with their real exporter
 * (`@opentelemetry/exporter-trace-otlp-proto`: protobuf, the OTLP/HTTP default).
 *
 * The request is decoded with protobuf-es's wire reader against the field numbers of
 * opentelemetry-proto (`collector/trace/v1/trace_service.proto`, `trace/v1/trace.proto`,
 * `resource/v1/resource.proto`, `common/v1/common.proto`): `@opentelemetry/otlp-transformer`
 * serializes requests but ships no request decoder. Its round trip is checked in
 * otlp-receiver.test.ts against that serializer.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

export interface ReceivedSpan {
  /** `service.name` of the resource that exported the span. */
  service: string;
  traceId: string;
  spanId: string;
  /** Undefined for a root span. */
  parentSpanId: string | undefined;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, string | number | boolean>;
}

export interface OtlpReceiver {
  /** The base URL to give as `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  url: string;
  spans(): ReceivedSpan[];
  /** Requests that could not be decoded (their error messages); a passing test expects none. */
  errors(): string[];
  close(): Promise<void>;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** Calls `field` for every field of the message in `bytes`, with a reader positioned at its value. */
function eachField(bytes: Uint8Array, field: (no: number, wire: WireType, reader: BinaryReader) => boolean): void {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [no, wire] = reader.tag();
    if (!field(no, wire, reader)) reader.skip(wire, no);
  }
}

/** common.v1.AnyValue: string 1, bool 2, int 3, double 4 (arrays, kvlists and bytes are left out). */
function anyValue(bytes: Uint8Array): string | number | boolean | undefined {
  let value: string | number | boolean | undefined;
  eachField(bytes, (no, wire, r) => {
    if (no === 1 && wire === WireType.LengthDelimited) value = r.string();
    else if (no === 2 && wire === WireType.Varint) value = r.bool();
    else if (no === 3 && wire === WireType.Varint) value = Number(r.int64());
    else if (no === 4 && wire === WireType.Bit64) value = r.double();
    else return false;
    return true;
  });
  return value;
}

/** common.v1.KeyValue: key 1, value 2. */
function keyValue(bytes: Uint8Array, into: Record<string, string | number | boolean>): void {
  let key = '';
  let value: string | number | boolean | undefined;
  eachField(bytes, (no, wire, r) => {
    if (no === 1 && wire === WireType.LengthDelimited) key = r.string();
    else if (no === 2 && wire === WireType.LengthDelimited) value = anyValue(r.bytes());
    else return false;
    return true;
  });
  if (value !== undefined) into[key] = value;
}

/** trace.v1.Span: trace_id 1, span_id 2, parent_span_id 4, name 5, kind 6, attributes 9. */
function span(bytes: Uint8Array, service: string): ReceivedSpan {
  const out: ReceivedSpan = { service, traceId: '', spanId: '', parentSpanId: undefined, name: '', kind: 0, attributes: {} };
  eachField(bytes, (no, wire, r) => {
    if (no === 1 && wire === WireType.LengthDelimited) out.traceId = hex(r.bytes());
    else if (no === 2 && wire === WireType.LengthDelimited) out.spanId = hex(r.bytes());
    else if (no === 4 && wire === WireType.LengthDelimited) out.parentSpanId = hex(r.bytes()) || undefined;
    else if (no === 5 && wire === WireType.LengthDelimited) out.name = r.string();
    else if (no === 6 && wire === WireType.Varint) out.kind = r.int32();
    else if (no === 9 && wire === WireType.LengthDelimited) keyValue(r.bytes(), out.attributes);
    else return false;
    return true;
  });
  return out;
}

/** collector.trace.v1.ExportTraceServiceRequest → ResourceSpans (1) → Resource (1) / ScopeSpans (2) → Span (2). */
export function decodeExportTraceRequest(bytes: Uint8Array): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  eachField(bytes, (no, wire, r) => {
    if (no !== 1 || wire !== WireType.LengthDelimited) return false;
    const resourceAttributes: Record<string, string | number | boolean> = {};
    const scopeSpans: Uint8Array[] = [];
    eachField(r.bytes(), (no2, wire2, r2) => {
      if (no2 === 1 && wire2 === WireType.LengthDelimited) eachField(r2.bytes(), (no3, wire3, r3) => (no3 === 1 && wire3 === WireType.LengthDelimited ? (keyValue(r3.bytes(), resourceAttributes), true) : false));
      else if (no2 === 2 && wire2 === WireType.LengthDelimited) scopeSpans.push(r2.bytes());
      else return false;
      return true;
    });
    const service = String(resourceAttributes['service.name'] ?? '');
    for (const scope of scopeSpans) eachField(scope, (no3, wire3, r3) => (no3 === 2 && wire3 === WireType.LengthDelimited ? (spans.push(span(r3.bytes(), service)), true) : false));
    return true;
  });
  return spans;
}

/** Listens on 127.0.0.1, port 0. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const received: ReceivedSpan[] = [];
  const errors: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !String(req.headers['content-type']).startsWith('application/x-protobuf')) {
        errors.push(`${req.method} ${req.url} (${req.headers['content-type']})`);
        res.writeHead(404).end();
        return;
      }
      try {
        const body = Buffer.concat(chunks);
        received.push(...decodeExportTraceRequest(req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body));
      } catch (error) {
        errors.push(String(error));
        res.writeHead(400).end();
        return;
      }
      // An empty ExportTraceServiceResponse: everything accepted.
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    spans: () => [...received],
    errors: () => [...errors],
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

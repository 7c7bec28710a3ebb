import type { ServiceDefinition, MethodDefinition } from '@grpc/grpc-js';
import { fromBinary, toBinary, type DescMethod, type DescService } from '@bufbuild/protobuf';

/** The grpc-js path of a method: `/package.Service/Method`. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/**
 * A request that did not decode. grpc-js answers INTERNAL for any deserializer that throws (a
 * client's garbage is not the server's fault), so for single-request methods the deserializer
 * hands this marker to the call wrapper instead, which answers INVALID_ARGUMENT.
 */
export class UndecodableRequest {
  readonly problem: string;
  constructor(problem: string) {
    this.problem = problem;
  }
}

/** protobuf-es's bytes as the Buffer grpc-js wants, over the same memory (no copy). */
const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * A method's own request decoder, tried before protobuf-es: the message, or undefined to leave
 * these bytes to protobuf-es (anything the decoder does not read). For single-request methods.
 */
export type RequestDecoder = (bytes: Buffer) => unknown;

/**
 * A protobuf-es service descriptor as a grpc-js service definition (binary protobuf on the wire).
 * `decoders` (by method local name) are tried first on a single request; undefined from one hands
 * the bytes to protobuf-es.
 */
export function toServiceDefinition(service: DescService, decoders?: Record<string, RequestDecoder | undefined>): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    const requestStream = method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming';
    definition[method.localName] = {
      path: methodPath(method),
      requestStream,
      responseStream: method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming',
      requestSerialize: (value) => asBuffer(toBinary(method.input, value as never)),
      // Request streams keep grpc-js's own handling (the message arrives inside the handler's loop).
      requestDeserialize: requestStream ? (bytes: Buffer) => fromBinary(method.input, bytes) : requestDecoder(method, decoders?.[method.localName]),
      // A unary handler may answer with its message already encoded (types.ts EncodedMessage).
      responseSerialize: (value) => (Buffer.isBuffer(value) ? value : asBuffer(toBinary(method.output, value as never))),
      responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
      originalName: method.name,
    };
  }
  return definition as ServiceDefinition;
}

function requestDecoder(method: DescMethod, own: RequestDecoder | undefined): (bytes: Buffer) => unknown {
  if (!own) return (bytes) => decodeRequest(method, bytes);
  return (bytes) => own(bytes) ?? decodeRequest(method, bytes);
}

function decodeRequest(method: DescMethod, bytes: Buffer): unknown {
  try {
    return fromBinary(method.input, bytes);
  } catch (error) {
    // The decoder's message says what was wrong with the bytes (wire type, length); it holds no input.
    return new UndecodableRequest(error instanceof Error ? error.message : 'malformed message');
  }
}

import type { DescMessage, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import type { GenService } from '@bufbuild/protobuf/codegenv2';
import type { CallContext } from './call-context.ts';

type MethodShape = { methodKind: string; input: DescMessage; output: DescMessage };

/** The method table of a generated service (`typeof EchoService`). */
export type MethodsOf<S> = S extends GenService<infer T> ? T : never;

type In<M extends MethodShape> = MessageShape<M['input']>;
type OutInit<M extends MethodShape> = MessageInitShape<M['output']>;
type Out<M extends MethodShape> = MessageShape<M['output']>;

/**
 * A unary response already in protobuf binary (a hand-written encoder for a hot message, checked
 * against protobuf-es's in a test): sent as is. Branded by its message type.
 */
export type EncodedMessage<D extends DescMessage> = Buffer & { readonly __encodedMessageOf?: D };

/** What a service implementation provides: one handler per RPC, by its local (camelCase) name. */
export type ServiceImpl<S> = {
  [K in keyof MethodsOf<S>]: MethodsOf<S>[K] extends infer M extends MethodShape
    ? M['methodKind'] extends 'unary'
      ? (request: In<M>, ctx: CallContext) => Promise<OutInit<M> | EncodedMessage<M['output']>> | OutInit<M> | EncodedMessage<M['output']>
      : M['methodKind'] extends 'server_streaming'
        ? (request: In<M>, ctx: CallContext) => AsyncIterable<OutInit<M>>
        : M['methodKind'] extends 'client_streaming'
          ? (requests: AsyncIterable<In<M>>, ctx: CallContext) => Promise<OutInit<M>>
          : (requests: AsyncIterable<In<M>>, ctx: CallContext) => AsyncIterable<OutInit<M>>
    : never;
};

export interface CallOptions {
  /** Overrides the client's default deadline for this call (ms from now). */
  deadlineMs?: number;
  signal?: AbortSignal;
  /** Extra request metadata, e.g. `{ authorization: 'Bearer …' }`. */
  headers?: Record<string, string>;
}

/** A typed client: one method per RPC. */
export type ServiceClient<S> = {
  [K in keyof MethodsOf<S>]: MethodsOf<S>[K] extends infer M extends MethodShape
    ? M['methodKind'] extends 'unary'
      ? (request: MessageInitShape<M['input']>, options?: CallOptions) => Promise<Out<M>>
      : M['methodKind'] extends 'server_streaming'
        ? (request: MessageInitShape<M['input']>, options?: CallOptions) => AsyncIterable<Out<M>>
        : M['methodKind'] extends 'client_streaming'
          ? (requests: AsyncIterable<MessageInitShape<M['input']>>, options?: CallOptions) => Promise<Out<M>>
          : (requests: AsyncIterable<MessageInitShape<M['input']>>, options?: CallOptions) => AsyncIterable<Out<M>>
    : never;
} & { close(): void };

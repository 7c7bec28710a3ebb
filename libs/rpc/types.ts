import type { DescMessage, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import type { GenService } from '@bufbuild/protobuf/codegenv2';
import type { CallContext } from './call-context.ts';

type MethodShape = { methodKind: string; input: DescMessage; output: DescMessage };

/** The method table of a generated service (`typeof EchoService`). */
export type MethodsOf<S> = S extends GenService<infer T> ? T : never;

type In<M extends MethodShape> = MessageShape<M['input']>;
type OutInit<M extends MethodShape> = MessageInitShape<M['output']>;
type Out<M extends MethodShape> = MessageShape<M['output']>;

/** What a service implementation provides: one handler per RPC, by its local (camelCase) name. */
export type ServiceImpl<S> = {
  [K in keyof MethodsOf<S>]: MethodsOf<S>[K] extends infer M extends MethodShape
    ? M['methodKind'] extends 'unary'
      ? (request: In<M>, ctx: CallContext) => Promise<OutInit<M>> | OutInit<M>
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

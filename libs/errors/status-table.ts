import type { ErrorCode } from './app-error.ts';

/**
 * One table, every boundary: gRPC status number and HTTP status for each code.
 * gRPC numbers are the canonical google.rpc.Code values.
 */
export const statusTable: Readonly<Record<ErrorCode, { grpc: number; http: number }>> = Object.freeze({
  CANCELLED: { grpc: 1, http: 499 },
  INVALID_ARGUMENT: { grpc: 3, http: 400 },
  DEADLINE_EXCEEDED: { grpc: 4, http: 504 },
  NOT_FOUND: { grpc: 5, http: 404 },
  ALREADY_EXISTS: { grpc: 6, http: 409 },
  PERMISSION_DENIED: { grpc: 7, http: 403 },
  RESOURCE_EXHAUSTED: { grpc: 8, http: 429 },
  FAILED_PRECONDITION: { grpc: 9, http: 412 },
  ABORTED: { grpc: 10, http: 409 },
  UNIMPLEMENTED: { grpc: 12, http: 501 },
  INTERNAL: { grpc: 13, http: 500 },
  UNAVAILABLE: { grpc: 14, http: 503 },
  UNAUTHENTICATED: { grpc: 16, http: 401 },
});

const byGrpc = new Map<number, ErrorCode>(
  Object.entries(statusTable).map(([code, s]) => [s.grpc, code as ErrorCode]),
);

export function codeFromGrpcStatus(status: number): ErrorCode {
  return byGrpc.get(status) ?? 'INTERNAL';
}

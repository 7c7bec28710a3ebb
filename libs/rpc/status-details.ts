import { Metadata, status as GrpcStatus, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { anyPack, anyUnpack } from '@bufbuild/protobuf/wkt';
import { AppError, codeFromGrpcStatus, statusTable, toAppError } from '#libs/errors/index.ts';
import { StatusSchema } from '#gen/google/rpc/status_pb.js';
import { ErrorInfoSchema } from '#gen/google/rpc/error_details_pb.js';

const DETAILS_KEY = 'grpc-status-details-bin';
const DOMAIN = 'tollgate.dev';

/** AppError → gRPC status with a `google.rpc.ErrorInfo` detail. Only the public message leaves. */
export function toGrpcStatus(error: unknown): Partial<StatusObject> {
  const appError = toAppError(error);
  const code = statusTable[appError.code].grpc;
  const info = create(ErrorInfoSchema, { reason: appError.reason, domain: DOMAIN, metadata: { ...appError.details } });
  const body = create(StatusSchema, { code, message: appError.publicMessage, details: [anyPack(ErrorInfoSchema, info)] });
  const metadata = new Metadata();
  metadata.set(DETAILS_KEY, Buffer.from(toBinary(StatusSchema, body)));
  return { code, details: appError.publicMessage, metadata };
}

/** A grpc-js client error → AppError, reading ErrorInfo when the server sent one. */
export function fromGrpcError(error: ServiceError | Error): AppError {
  const serviceError = error as Partial<ServiceError>;
  if (typeof serviceError.code !== 'number') return toAppError(error);
  const code = serviceError.code === GrpcStatus.UNKNOWN ? 'INTERNAL' : codeFromGrpcStatus(serviceError.code);
  const message = serviceError.details || error.message;
  let reason: string | undefined;
  let details: Record<string, string> = {};
  const raw = serviceError.metadata?.get(DETAILS_KEY)[0];
  if (raw instanceof Buffer) {
    try {
      const body = fromBinary(StatusSchema, raw);
      for (const any of body.details) {
        const info = anyUnpack(any, ErrorInfoSchema);
        if (info) {
          reason = info.reason;
          details = { ...info.metadata };
        }
      }
    } catch {
      // A peer that is not Tollgate may send details we cannot read; the status code still stands.
    }
  }
  return new AppError(code, message, {
    publicMessage: message,
    ...(reason ? { reason } : {}),
    ...(details.field ? { field: details.field } : {}),
    details,
    cause: error,
  });
}

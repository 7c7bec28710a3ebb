/**
 * The one base error of Tollgate. A denial is never an AppError: "no" is an answer
 * (see STYLE.md, Errors). Throw only when a question cannot be answered.
 *
 * `message` is internal (logged once with the request id); `publicMessage` is what a
 * caller may see. Neither may contain a secret.
 */
export const errorCodes = [
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'UNAUTHENTICATED',
  'FAILED_PRECONDITION',
  'RESOURCE_EXHAUSTED',
  'ABORTED',
  'UNAVAILABLE',
  'DEADLINE_EXCEEDED',
  'CANCELLED',
  'UNIMPLEMENTED',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export interface AppErrorOptions {
  /** Safe to show to the caller. Defaults to the internal message for client errors, a generic text for INTERNAL. */
  publicMessage?: string;
  /** Machine reason, e.g. `FIELD_INVALID`, sent as google.rpc.ErrorInfo.reason. */
  reason?: string;
  /** The request field at fault, e.g. `account_id` or `rules[3].resources[0]`. */
  field?: string;
  /** Extra machine-readable metadata (string values only: they travel as ErrorInfo.metadata). */
  details?: Record<string, string>;
  cause?: unknown;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly publicMessage: string;
  readonly reason: string;
  readonly field: string | undefined;
  readonly details: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.publicMessage = options.publicMessage ?? (code === 'INTERNAL' ? 'internal error' : message);
    this.reason = options.reason ?? code;
    this.field = options.field;
    this.details = Object.freeze({ ...(options.field ? { field: options.field } : {}), ...options.details });
  }
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}

/** `INVALID_ARGUMENT` naming the field: the commonest error in Tollgate. */
export function invalidArgument(field: string, problem: string, details?: Record<string, string>): AppError {
  return new AppError('INVALID_ARGUMENT', `${field}: ${problem}`, { field, reason: 'FIELD_INVALID', ...(details ? { details } : {}) });
}

export function notFound(field: string, what: string): AppError {
  return new AppError('NOT_FOUND', `${field}: ${what} not found`, { field, reason: 'NOT_FOUND' });
}

export function alreadyExists(field: string, what: string): AppError {
  return new AppError('ALREADY_EXISTS', `${field}: ${what} already exists`, { field, reason: 'ALREADY_EXISTS' });
}

export function permissionDenied(message: string, reason = 'PERMISSION_DENIED'): AppError {
  return new AppError('PERMISSION_DENIED', message, { reason });
}

export function unauthenticated(message: string, reason = 'UNAUTHENTICATED'): AppError {
  return new AppError('UNAUTHENTICATED', message, { reason });
}

export function failedPrecondition(message: string, details?: Record<string, string>): AppError {
  return new AppError('FAILED_PRECONDITION', message, { reason: 'FAILED_PRECONDITION', ...(details ? { details } : {}) });
}

export function unavailable(message: string, cause?: unknown): AppError {
  return new AppError('UNAVAILABLE', message, { reason: 'UNAVAILABLE', cause });
}

/** Wraps anything thrown into an AppError; unknown errors become INTERNAL with a generic public text. */
export function toAppError(error: unknown): AppError {
  if (isAppError(error)) return error;
  if (isUnstorableText(error)) {
    // The last line of defence (the RPC layer refuses such text first): a value the database cannot
    // hold is the caller's input, not a server fault.
    return new AppError('INVALID_ARGUMENT', 'a text value holds a character that cannot be stored (NUL or invalid Unicode)', { reason: 'TEXT_UNSTORABLE', cause: error });
  }
  return new AppError('INTERNAL', error instanceof Error ? error.message : String(error), { cause: error });
}

/** Postgres (and PGlite) refusing text: 22021 invalid byte sequence (a NUL), 22P05 untranslatable character (`\u0000` in jsonb). */
function isUnstorableText(error: unknown): boolean {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, i = 0; e && typeof e === 'object' && i < 4; e = e.cause as typeof e, i++) {
    if (e.code === '22021' || e.code === '22P05') return true;
  }
  return false;
}

/**
 * A peer could not answer — down, unreachable, or out of time (`UNAVAILABLE`, `DEADLINE_EXCEEDED`,
 * from an AppError or a gRPC client error alike). The caller's written policy decides whether that
 * fails open or closed; this only names the case, so no caller compares status strings itself.
 */
export function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return code === 'UNAVAILABLE' || code === 'DEADLINE_EXCEEDED';
}

import { describe, expect, it } from 'vitest';
import { AppError, invalidArgument, isUnavailable, toAppError } from './app-error.ts';
import { codeFromGrpcStatus, statusTable } from './status-table.ts';

describe('AppError', () => {
  it('names the field for INVALID_ARGUMENT', () => {
    const e = invalidArgument('account_id', 'must start with acc_');
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.field).toBe('account_id');
    expect(e.publicMessage).toBe('account_id: must start with acc_');
    expect(e.details).toEqual({ field: 'account_id' });
  });

  it('hides the internal message of unknown errors', () => {
    const e = toAppError(new Error('connection string postgres://u:secret@h'));
    expect(e.code).toBe('INTERNAL');
    expect(e.publicMessage).toBe('internal error');
    expect(e.message).toContain('postgres://');
  });

  it('turns the database refusing text (NUL, bad Unicode) into INVALID_ARGUMENT, even wrapped by the ORM', () => {
    const pg = Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' });
    const wrapped = Object.assign(new Error('Failed query: insert into ...'), { cause: pg });
    for (const error of [pg, wrapped, Object.assign(new Error('unsupported Unicode escape sequence'), { code: '22P05' })]) {
      const e = toAppError(error);
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.publicMessage).not.toContain('insert');
    }
  });

  it('maps every code to a gRPC status and back', () => {
    for (const [code, s] of Object.entries(statusTable)) {
      expect(codeFromGrpcStatus(s.grpc)).toBe(code);
    }
    expect(codeFromGrpcStatus(2)).toBe('INTERNAL');
    expect(new AppError('NOT_FOUND', 'x').reason).toBe('NOT_FOUND');
  });
});

describe('isUnavailable', () => {
  it('names a peer that could not answer, from an AppError or a client error alike', () => {
    expect(isUnavailable(new AppError('UNAVAILABLE', 'down'))).toBe(true);
    expect(isUnavailable(Object.assign(new Error('deadline'), { code: 'DEADLINE_EXCEEDED' }))).toBe(true);
    expect(isUnavailable(invalidArgument('x', 'bad'))).toBe(false);
    expect(isUnavailable(new Error('no code'))).toBe(false);
    expect(isUnavailable(undefined)).toBe(false);
  });
});

/**
 * Identity's errors. A wrong password, a lockout or a denied check are *answers* (tagged outcomes),
 * not errors; these are for questions that cannot be answered as asked.
 */
import { AppError, failedPrecondition, invalidArgument } from '#libs/errors/index.ts';

export { invalidArgument };

/** The account tree would get deeper than `MAX_ACCOUNT_DEPTH`. */
export function accountTreeTooDeep(field: string, maxDepth: number): AppError {
  return new AppError('INVALID_ARGUMENT', `${field}: a subaccount here would be at depth ${maxDepth + 1}; the account tree is at most ${maxDepth} levels deep`, {
    field,
    reason: 'ACCOUNT_TREE_TOO_DEEP',
    details: { max_depth: String(maxDepth) },
  });
}

/** A value that looks like a secret was offered where secrets are never stored (the audit log). */
export function secretRefused(field: string): AppError {
  return new AppError('INVALID_ARGUMENT', `${field}: looks like a secret and is never recorded`, { field, reason: 'SECRET_REFUSED' });
}

export function twoFactorState(message: string): AppError {
  return failedPrecondition(message, { reason: 'TWO_FACTOR_STATE' });
}

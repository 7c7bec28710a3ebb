/**
 * Password rules checked when a password is set (not at login: a stored password is never re-judged).
 * NIST SP 800-63B §5.1.1.2: a length floor, a generous ceiling, a blocklist of common choices and no
 * composition rules.
 */
import { invalidArgument } from './errors.ts';
import { commonPasswords } from './common-passwords.ts';

export interface PasswordPolicy {
  minLength: number;
  maxLength: number;
}

export const defaultPasswordPolicy: PasswordPolicy = Object.freeze({ minLength: 12, maxLength: 1024 });

export type PasswordProblem = 'TOO_SHORT' | 'TOO_LONG' | 'COMMON' | 'CONTAINS_USERNAME' | 'REPETITIVE';

export type PasswordCheck = { ok: true } | { ok: false; problem: PasswordProblem; message: string };

/** Length counts Unicode code points, so an emoji is one character as a person would count it. */
export function checkPasswordPolicy(password: string, options: { username?: string; policy?: PasswordPolicy } = {}): PasswordCheck {
  const policy = options.policy ?? defaultPasswordPolicy;
  const length = [...password].length;
  if (length < policy.minLength) return fail('TOO_SHORT', `must be at least ${policy.minLength} characters`);
  if (length > policy.maxLength) return fail('TOO_LONG', `must be at most ${policy.maxLength} characters`);
  const folded = password.toLowerCase();
  if (commonPasswords.has(folded)) return fail('COMMON', 'is one of the most common passwords; choose another');
  if (new Set(folded).size <= 2) return fail('REPETITIVE', 'repeats one or two characters; choose another');
  const username = options.username?.trim().toLowerCase();
  if (username && username.length >= 3 && folded.includes(username)) return fail('CONTAINS_USERNAME', 'must not contain the username');
  return { ok: true };
}

/** Throws `INVALID_ARGUMENT` naming `field` (never echoing the password) when the policy refuses it. */
export function assertPasswordPolicy(password: string, options: { field?: string; username?: string; policy?: PasswordPolicy } = {}): void {
  const check = checkPasswordPolicy(password, options);
  if (!check.ok) throw invalidArgument(options.field ?? 'password', check.message, { problem: check.problem });
}

function fail(problem: PasswordProblem, message: string): PasswordCheck {
  return { ok: false, problem, message };
}

import { describe, expect, it } from 'vitest';
import { isAppError } from '#libs/errors/index.ts';
import { assertPasswordPolicy, checkPasswordPolicy, type PasswordProblem } from './password-policy.ts';
import { commonPasswords } from './common-passwords.ts';

describe('checkPasswordPolicy', () => {
  it.each<[string, string, PasswordProblem | 'ok', string?]>([
    ['11 characters', 'abcdefghijk', 'TOO_SHORT'],
    ['empty', '', 'TOO_SHORT'],
    ['12 characters', 'tr0mbone-kit', 'ok'],
    ['1024 characters', 'ab1-'.repeat(256), 'ok'],
    ['1025 characters', 'ab1-'.repeat(256) + 'x', 'TOO_LONG'],
    ['emoji count as one each', '🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑', 'TOO_SHORT'],
    ['common: password1234', 'password1234', 'COMMON'],
    ['common, other case', 'PassWord1234', 'COMMON'],
    ['common: 123456789012', '123456789012', 'COMMON'],
    ['common: keyboard walk', 'qwertyuiopas', 'COMMON'],
    ['common: 1qaz2wsx3edc', '1qaz2wsx3edc', 'COMMON'],
    ['one repeated char', 'kkkkkkkkkkkkkk', 'REPETITIVE'],
    ['two alternating chars', 'ababababababab', 'REPETITIVE'],
    ['contains the username', 'alice-in-wonderland', 'CONTAINS_USERNAME', 'Alice'],
    ['passphrase', 'correct horse battery staple', 'ok', 'alice'],
  ])('%s', (_case, password, expected, username) => {
    const check = checkPasswordPolicy(password, username ? { username } : {});
    expect(check.ok ? 'ok' : check.problem).toBe(expected);
  });

  it('has a few hundred common entries, all lower-case and long enough to matter', () => {
    expect(commonPasswords.size).toBeGreaterThan(300);
    for (const entry of commonPasswords) {
      expect(entry).toBe(entry.toLowerCase());
      expect(entry.length).toBeGreaterThanOrEqual(12);
    }
  });

  it('honours a configured policy', () => {
    expect(checkPasswordPolicy('short-but-ok', { policy: { minLength: 8, maxLength: 16 } }).ok).toBe(true);
    expect(checkPasswordPolicy('much-too-long-for-it', { policy: { minLength: 8, maxLength: 16 } }).ok).toBe(false);
  });
});

describe('assertPasswordPolicy', () => {
  it('throws INVALID_ARGUMENT naming the field and never the password', () => {
    try {
      assertPasswordPolicy('password1234', { field: 'new_password' });
      expect.unreachable();
    } catch (error) {
      expect(isAppError(error) && error.code).toBe('INVALID_ARGUMENT');
      expect(isAppError(error) && error.field).toBe('new_password');
      expect(isAppError(error) && error.details['problem']).toBe('COMMON');
      expect(String((error as Error).message)).not.toContain('password1234');
    }
  });
  it('passes a good password', () => {
    expect(() => assertPasswordPolicy('a sturdy passphrase here')).not.toThrow();
  });
});

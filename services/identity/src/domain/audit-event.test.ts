import { describe, expect, it } from 'vitest';
import { isAppError } from '#libs/errors/index.ts';
import { createAuditEvent, looksLikeSecret, signingKeySubject, type AuditEventInput } from './audit-event.ts';
import { FakeClock } from '../../test/doubles/test-doubles.ts';

const deps = { clock: new FakeClock(1_700_000_000_000), newId: () => 'aud_1' };

function refusal(input: AuditEventInput) {
  try {
    createAuditEvent(input, deps);
  } catch (error) {
    if (isAppError(error)) return { reason: error.reason, field: error.field, message: error.message };
    throw error;
  }
  return undefined;
}

describe('createAuditEvent', () => {
  it('builds a frozen event with time from the clock', () => {
    const event = createAuditEvent(
      { kind: 'login_failed', outcome: 'failure', accountId: 'acc_1', ip: '203.0.113.7', subject: 'usr_7', reason: 'INVALID_CREDENTIALS', details: { username: 'alice', user_agent: 'mqttx/1.9' } },
      deps,
    );
    expect(event).toEqual({
      id: 'aud_1',
      kind: 'login_failed',
      atMs: 1_700_000_000_000,
      outcome: 'failure',
      actorUserId: null,
      actorKind: null,
      actorSubject: null,
      accountId: 'acc_1',
      ip: '203.0.113.7',
      subject: 'usr_7',
      reason: 'INVALID_CREDENTIALS',
      details: { username: 'alice', user_agent: 'mqttx/1.9' },
      requestId: null,
      source: 'identity',
    });
    expect(Object.isFrozen(event)).toBe(true);
  });

  it('names the actor by kind and subject: a user (shorthand actorUserId), a token by its id', () => {
    const byUser = createAuditEvent({ kind: 'role_changed', outcome: 'success', actorUserId: 'usr_1', accountId: 'acc_1' }, deps);
    expect(byUser).toMatchObject({ actorKind: 'user', actorSubject: 'usr_1', actorUserId: 'usr_1' });
    const byToken = createAuditEvent({ kind: 'token_revoked', outcome: 'success', actorKind: 'master', actorSubject: 'tok_9', accountId: 'acc_1', requestId: 'req_abc', source: 'authz' }, deps);
    expect(byToken).toMatchObject({ actorKind: 'master', actorSubject: 'tok_9', actorUserId: null, requestId: 'req_abc', source: 'authz' });
  });

  it('refuses an actor kind without a subject, an unknown actor kind, a bad request id or source', () => {
    expect(() => createAuditEvent({ kind: 'token_revoked', outcome: 'success', actorKind: 'master' }, deps)).toThrow(/actor_subject/);
    expect(() => createAuditEvent({ kind: 'token_revoked', outcome: 'success', actorKind: 'root' as never, actorSubject: 'x' }, deps)).toThrow(/actor_kind/);
    expect(() => createAuditEvent({ kind: 'token_revoked', outcome: 'success', requestId: 'a b' }, deps)).toThrow(/request_id/);
    expect(() => createAuditEvent({ kind: 'token_revoked', outcome: 'success', source: 'Authz!' }, deps)).toThrow(/source/);
  });

  it('keeps a request id that looks like a code: refusing it would keep the action out of the log', () => {
    expect(createAuditEvent({ kind: 'token_revoked', outcome: 'success', requestId: '123456' }, deps).requestId).toBe('123456');
  });

  it('refuses a secret as actor subject', () => {
    expect(() => createAuditEvent({ kind: 'token_revoked', outcome: 'success', actorKind: 'master', actorSubject: 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1c3JfMSJ9.c2ln' }, deps)).toThrow(/actor_subject/);
  });

  it.each<[string, AuditEventInput, string]>([
    ['a password detail', { kind: 'password_changed', outcome: 'success', details: { password: 'hunter2hunter2' } }, 'details.password'],
    ['a new_password detail', { kind: 'password_changed', outcome: 'success', details: { new_password: 'x' } }, 'details.new_password'],
    ['a refresh_token detail', { kind: 'logout', outcome: 'success', details: { refresh_token: 'x' } }, 'details.refresh_token'],
    ['a totp code detail', { kind: 'login_failed', outcome: 'failure', details: { totp: '123456' } }, 'details.totp'],
    ['a JWT as subject', { kind: 'logout', outcome: 'success', subject: 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1c3JfMSJ9.c2ln' }, 'subject'],
    ['a PHC hash as reason', { kind: 'password_changed', outcome: 'success', reason: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA' }, 'reason'],
    ['a refresh token as subject', { kind: 'token_family_revoked', outcome: 'success', subject: 'rt_Zm9vYmFyYmF6cXV4cXV1eHh5enp5' }, 'subject'],
    ['a 6-digit code in a detail', { kind: 'login_failed', outcome: 'failure', details: { note: '287082' } }, 'details.note'],
    ['a recovery code in a detail', { kind: 'recovery_code_used', outcome: 'success', details: { note: 'abcde-fgh23' } }, 'details.note'],
    ['a random token pasted as username', { kind: 'login_failed', outcome: 'failure', details: { username: 'kX9vQ2mP7rT4wZ8yB3nL6hJ1' } }, 'details.username'],
  ])('refuses %s', (_case, input, field) => {
    expect(refusal(input)).toMatchObject({ reason: 'SECRET_REFUSED', field });
  });

  it('records a rotated key by its kid with the key: prefix', () => {
    const kid = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';
    expect(refusal({ kind: 'key_rotated', outcome: 'success', subject: kid })).toMatchObject({ reason: 'SECRET_REFUSED' });
    expect(createAuditEvent({ kind: 'key_rotated', outcome: 'success', subject: signingKeySubject(kid) }, deps).subject).toBe(`key:${kid}`);
  });

  it('never echoes the refused value', () => {
    expect(refusal({ kind: 'logout', outcome: 'success', details: { note: 'rt_Zm9vYmFyYmF6cXV4cXV1eHh5enp5' } })?.message).not.toContain('rt_Zm9v');
  });

  it.each<[string, AuditEventInput, string]>([
    ['an unknown kind', { kind: 'hacked' as never, outcome: 'success' }, 'kind'],
    ['an unknown outcome', { kind: 'login_ok', outcome: 'maybe' as never }, 'outcome'],
    ['a bad ip', { kind: 'login_ok', outcome: 'success', ip: 'not an ip' }, 'ip'],
    ['an oversized value', { kind: 'login_ok', outcome: 'success', details: { user_agent: 'x'.repeat(300) } }, 'details.user_agent'],
  ])('rejects %s', (_case, input, field) => {
    expect(refusal(input)).toMatchObject({ reason: 'FIELD_INVALID', field });
  });

  it.each([
    ['usr_01HZXAMPLE', false],
    ['acc_7f3k2', false],
    ['rtf_Zm9vYmFyYmF6cXV4', false],
    ['kid-2026-01', false],
    ['alice@example.com', false],
    ['2001:db8::1', false],
    ['INVALID_CREDENTIALS', false],
    ['JBSWY3DPEHPK3PXPJBSWY3DP', true],
    ['ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', true],
    ['Bearer abc', true],
    ['otpauth://totp/x?secret=ABC', true],
  ])('looksLikeSecret(%j) = %s', (value, expected) => expect(looksLikeSecret(value)).toBe(expected));
});

/**
 * Single sign-on policy, one answer per question: who an upstream identity is here (link by
 * subject, by verified email, provision, or refuse), whether the upstream's authentication counts
 * as a second factor, and whether a password login is refused because the account requires SSO.
 */

/** RFC 8176 `amr` values that mean more than a password was used. */
const MFA_AMR = new Set(['mfa', 'mca', 'otp', 'hwk', 'swk', 'sc', 'sms', 'tel', 'pop']);

/** SAML AuthnContextClassRef values that mean multi-factor authentication. */
const MFA_SAML_CONTEXTS = new Set([
  'urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI',
  'https://refeds.org/profile/mfa',
  'http://schemas.microsoft.com/claims/multipleauthn',
]);

/** Whether an upstream ID token's `amr` asserts multi-factor authentication. */
export function amrAssertsMfa(amr: unknown): boolean {
  return Array.isArray(amr) && amr.some((v) => typeof v === 'string' && MFA_AMR.has(v));
}

/** Whether a SAML assertion's AuthnContextClassRef asserts multi-factor authentication. */
export function samlContextAssertsMfa(classRefs: readonly string[]): boolean {
  return classRefs.some((ref) => MFA_SAML_CONTEXTS.has(ref.trim()));
}

/** Password login is refused to members of an account (or a descendant of one) that requires SSO. */
export function isSsoRequired(path: readonly { requireSso: boolean }[]): boolean {
  return path.some((a) => a.requireSso);
}

export type SsoProvisioning = 'invited' | 'jit';

export type SsoRefusal = 'NOT_INVITED' | 'NOT_A_MEMBER' | 'EMAIL_AMBIGUOUS' | 'EMAIL_LINKED_ELSEWHERE';

export type SsoLinkDecision =
  | { kind: 'linked'; userId: string }
  | { kind: 'link_by_email'; userId: string }
  | { kind: 'provision' }
  | { kind: 'refuse'; reason: SsoRefusal };

/**
 * Who an upstream identity is in the connection's account. A (connection, subject) link wins; else
 * an email the upstream vouches for (`emailTrusted`) links to the one member with that email — not
 * to a member already linked to another subject of this connection, nor when several match; else a
 * `jit` connection provisions a new member, an `invited` one refuses.
 */
export function decideSsoLink(input: {
  linked: { userId: string; isMember: boolean } | undefined;
  emailTrusted: boolean;
  emailMatches: readonly { userId: string; linkedSubject: string | undefined }[];
  provisioning: SsoProvisioning;
}): SsoLinkDecision {
  if (input.linked) return input.linked.isMember ? { kind: 'linked', userId: input.linked.userId } : { kind: 'refuse', reason: 'NOT_A_MEMBER' };
  if (input.emailTrusted && input.emailMatches.length > 0) {
    if (input.emailMatches.length > 1) return { kind: 'refuse', reason: 'EMAIL_AMBIGUOUS' };
    const [match] = input.emailMatches;
    if (match!.linkedSubject !== undefined) return { kind: 'refuse', reason: 'EMAIL_LINKED_ELSEWHERE' };
    return { kind: 'link_by_email', userId: match!.userId };
  }
  return input.provisioning === 'jit' ? { kind: 'provision' } : { kind: 'refuse', reason: 'NOT_INVITED' };
}

/**
 * After an upstream sign-in: Tollgate's own TOTP step applies to a user who has it enrolled, or
 * whose account requires it, unless the upstream asserted multi-factor authentication.
 */
export function secondFactorAfterSso(input: { upstreamMfa: boolean; totpEnrolled: boolean; totpRequired: boolean }): 'none' | 'totp' | 'enrollment_required' {
  if (input.upstreamMfa) return 'none';
  if (input.totpEnrolled) return 'totp';
  return input.totpRequired ? 'enrollment_required' : 'none';
}

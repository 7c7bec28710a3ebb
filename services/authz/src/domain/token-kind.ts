/**
 * Token kinds (flespi): master, standard, acl. What each kind may do is the role table's answer
 * (libs/policy/role-policy.ts: master is owner-equivalent in its subtree, standard everything but
 * managing tokens and subaccounts, acl no admin at all — its rules govern its data plane); the
 * account selector for subaccounts is core/authorize.ts.
 */
export const tokenKinds = ['master', 'standard', 'acl'] as const;
export type TokenKind = (typeof tokenKinds)[number];

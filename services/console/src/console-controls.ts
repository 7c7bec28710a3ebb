import { actorCovers, actorMay, isRole, type Actor, type Operation } from '#libs/policy/role-policy.ts';

/**
 * Which console controls a caller is shown: each control is an operation of the one role table
 * (libs/policy/role-policy.ts), so the page shows exactly what the services would allow. It hides
 * buttons and nothing more — every call still goes to a service with the caller's credential, and
 * the service's own guard answers.
 */
export const consoleControls = ['accounts.manage', 'users.manage', 'tokens.manage', 'limits.manage', 'clients.kick', 'audit.read', 'keys.rotate'] as const;
export type ConsoleControl = (typeof consoleControls)[number];

export interface ControlSubject {
  kind: 'master' | 'standard' | 'acl' | 'user';
  role: 'owner' | 'admin' | 'member' | 'viewer' | null;
}

/** The role table's operation behind each control; key rotation takes every power of an owner. */
const operationOf: Record<Exclude<ConsoleControl, 'keys.rotate'>, Operation> = {
  'accounts.manage': 'manage_subaccounts',
  'users.manage': 'manage_users',
  'tokens.manage': 'manage_tokens',
  'limits.manage': 'manage_limits',
  'clients.kick': 'kick',
  'audit.read': 'audit_read',
};

function actorOf(who: ControlSubject): Actor {
  const role = who.role ?? undefined;
  return who.kind === 'user' ? { kind: 'user', role: isRole(role) ? role : undefined } : { kind: who.kind };
}

export function controlsFor(who: ControlSubject): ConsoleControl[] {
  const actor = actorOf(who);
  return consoleControls.filter((control) => (control === 'keys.rotate' ? actorCovers(actor, 'owner') : actorMay(actor, operationOf[control])));
}

export function hasControl(who: ControlSubject, control: ConsoleControl): boolean {
  return controlsFor(who).includes(control);
}

/**
 * Which console controls a caller is shown: the ONE place the console maps a role to its UI. It
 * hides buttons and nothing more — every call still goes to a service with the caller's
 * credential, and the service's own guard answers. (To be pointed at the shared role table.)
 */
export const consoleControls = ['accounts.manage', 'users.manage', 'tokens.manage', 'limits.manage', 'clients.kick', 'audit.read', 'keys.rotate'] as const;
export type ConsoleControl = (typeof consoleControls)[number];

export interface ControlSubject {
  kind: 'master' | 'standard' | 'acl' | 'user';
  role: 'owner' | 'admin' | 'member' | 'viewer' | null;
}

export function controlsFor(who: ControlSubject): ConsoleControl[] {
  if (who.kind === 'master') return [...consoleControls];
  if (who.kind === 'standard') return ['users.manage', 'limits.manage', 'clients.kick', 'audit.read'];
  if (who.kind === 'user' && (who.role === 'owner' || who.role === 'admin')) return consoleControls.filter((c) => c !== 'keys.rotate' || who.role === 'owner');
  return [];
}

export function hasControl(who: ControlSubject, control: ConsoleControl): boolean {
  return controlsFor(who).includes(control);
}

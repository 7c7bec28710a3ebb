import { describe, expect, it } from 'vitest';
import { consoleControls, controlsFor } from './console-controls.ts';

describe('console controls by role', () => {
  it.each([
    [{ kind: 'master', role: null }, [...consoleControls]],
    [{ kind: 'standard', role: null }, ['users.manage', 'limits.manage', 'clients.kick', 'audit.read']],
    [{ kind: 'user', role: 'owner' }, [...consoleControls]],
    [{ kind: 'user', role: 'admin' }, consoleControls.filter((c) => c !== 'keys.rotate')],
    [{ kind: 'user', role: 'member' }, []],
    [{ kind: 'user', role: 'viewer' }, []],
    [{ kind: 'acl', role: null }, []],
  ] as const)('%o sees %o', (who, expected) => {
    expect(controlsFor(who)).toEqual(expected);
  });
});

import { describe, expect, it } from 'vitest';
import { isAppError } from '#libs/errors/index.ts';
import {
  MAX_ACCOUNT_DEPTH,
  ancestorsOf,
  assertCanAddChild,
  assertCanMove,
  depthOf,
  descendantsOf,
  isEffectivelySuspended,
  pathOf,
  subtreeHeightOf,
  suspendedBy,
  validateAccountName,
  type ParentMap,
} from './account-tree.ts';

// root ─ a ─ a1 ─ a11
//      │    └ a2
//      └ b
const tree: ParentMap = new Map([
  ['root', null],
  ['a', 'root'],
  ['b', 'root'],
  ['a1', 'a'],
  ['a2', 'a'],
  ['a11', 'a1'],
]);

/** A chain d1 ─ d2 ─ … ─ dN. */
function chain(n: number): Map<string, string | null> {
  const map = new Map<string, string | null>();
  for (let i = 1; i <= n; i++) map.set(`d${i}`, i === 1 ? null : `d${i - 1}`);
  return map;
}

function errorOf(fn: () => unknown) {
  try {
    fn();
  } catch (error) {
    if (isAppError(error)) return { code: error.code, reason: error.reason, field: error.field, message: error.message };
    throw error;
  }
  return undefined;
}

describe('tree queries', () => {
  it.each([
    ['root', ['root'], 1, [], ['a', 'b', 'a1', 'a2', 'a11']],
    ['a', ['root', 'a'], 2, ['root'], ['a1', 'a2', 'a11']],
    ['a11', ['root', 'a', 'a1', 'a11'], 4, ['root', 'a', 'a1'], []],
    ['b', ['root', 'b'], 2, ['root'], []],
  ])('%s', (id, path, depth, ancestors, descendants) => {
    expect(pathOf(id, tree)).toEqual(path);
    expect(depthOf(id, tree)).toBe(depth);
    expect(ancestorsOf(id, tree)).toEqual(ancestors);
    expect(descendantsOf(id, tree)).toEqual(descendants);
  });

  it('unknown ids are NOT_FOUND naming the field', () => {
    expect(errorOf(() => pathOf('nope', tree, 'parent_id'))).toMatchObject({ code: 'NOT_FOUND', field: 'parent_id' });
    expect(errorOf(() => descendantsOf('nope', tree))).toMatchObject({ code: 'NOT_FOUND', field: 'account_id' });
  });

  it('subtree height', () => {
    expect(subtreeHeightOf('root', tree)).toBe(3);
    expect(subtreeHeightOf('a1', tree)).toBe(1);
    expect(subtreeHeightOf('b', tree)).toBe(0);
  });
});

describe('depth limit', () => {
  it('is 8', () => expect(MAX_ACCOUNT_DEPTH).toBe(8));

  it.each([
    ['under depth 1', 1, true],
    ['under depth 7 (child at 8)', 7, true],
    ['under depth 8 (child at 9)', 8, false],
  ])('add a child %s', (_case, parentDepth, allowed) => {
    const error = errorOf(() => assertCanAddChild(`d${parentDepth}`, chain(parentDepth)));
    if (allowed) expect(error).toBeUndefined();
    else {
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'ACCOUNT_TREE_TOO_DEEP', field: 'parent_id' });
      expect(error?.message).toMatch(/at most 8 levels/);
    }
  });

  it.each([
    ['a leaf under a depth-7 node', 'b', 'd7', true],
    ['a leaf under a depth-8 node', 'b', 'd8', false],
    ['a 2-level subtree under a depth-6 node', 'a1', 'd6', true],
    ['a 2-level subtree under a depth-7 node', 'a1', 'd7', false],
    ['an account under its own subaccount', 'a', 'a11', false],
    ['an account under itself', 'a', 'a', false],
  ])('move %s', (_case, id, newParent, allowed) => {
    const parents = new Map([...tree, ...chain(8)]);
    expect(errorOf(() => assertCanMove(id, newParent, parents)) === undefined).toBe(allowed);
  });
});

describe('validateAccountName', () => {
  it.each([
    ['plain', 'Acme', 'Acme'],
    ['trimmed', '  Acme GmbH ', 'Acme GmbH'],
    ['128 chars', 'x'.repeat(128), 'x'.repeat(128)],
    ['unicode counts code points', '🏭'.repeat(128), '🏭'.repeat(128)],
  ])('accepts %s', (_case, name, stored) => expect(validateAccountName(name)).toBe(stored));

  it.each([
    ['empty', ''],
    ['blank', '   '],
    ['129 chars', 'x'.repeat(129)],
    ['control character', 'Acme\nEvil'],
  ])('rejects %s naming the field', (_case, name) => {
    expect(errorOf(() => validateAccountName(name, 'new_name'))).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'new_name' });
  });
});

describe('suspension applies to the subtree', () => {
  const state = (id: string, suspended = false) => ({ id, suspended });
  it.each([
    ['nothing suspended', [state('root'), state('a'), state('a1')], false, undefined],
    ['the account itself', [state('root'), state('a'), state('a1', true)], true, 'a1'],
    ['a parent', [state('root'), state('a', true), state('a1')], true, 'a'],
    ['the root and a parent', [state('root', true), state('a', true), state('a1')], true, 'root'],
  ])('%s', (_case, path, suspended, by) => {
    expect(isEffectivelySuspended(path)).toBe(suspended);
    expect(suspendedBy(path)).toBe(by);
  });
});

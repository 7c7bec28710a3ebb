/**
 * Rules of the account tree: an account has at most one parent; the root is depth 1 and the tree
 * is at most `MAX_ACCOUNT_DEPTH` deep; suspending an account suspends its whole subtree.
 *
 * The tree is handed in as a parent map (`id → parentId | null`), which is what a store loads
 * cheaply (one indexed query) and what authz/quota cache from the change feed.
 */
import { notFound } from '#libs/errors/index.ts';
import { accountTreeTooDeep, invalidArgument } from './errors.ts';

export const MAX_ACCOUNT_DEPTH = 8;
export const MAX_ACCOUNT_NAME_LENGTH = 128;

export type ParentMap = ReadonlyMap<string, string | null>;

/**
 * Trims, then requires 1..128 characters (code points) and no control characters.
 * Returns the trimmed name to store.
 */
export function validateAccountName(name: string, field = 'name'): string {
  const trimmed = name.trim();
  const length = [...trimmed].length;
  if (length === 0) throw invalidArgument(field, 'must not be empty');
  if (length > MAX_ACCOUNT_NAME_LENGTH) throw invalidArgument(field, `must be at most ${MAX_ACCOUNT_NAME_LENGTH} characters (got ${length})`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(trimmed)) throw invalidArgument(field, 'must not contain control characters');
  return trimmed;
}

/** Ids from the root down to `id` inclusive: `[root, …, parent, id]`. Throws NOT_FOUND naming `field`. */
export function pathOf(id: string, parents: ParentMap, field = 'account_id'): string[] {
  const path: string[] = [];
  let current: string | null = id;
  while (current !== null) {
    const parent = parents.get(current);
    if (parent === undefined) throw notFound(field, current === id ? 'account' : 'parent account');
    path.push(current);
    // A cycle would be a corrupted store; stop rather than loop forever.
    if (path.length > MAX_ACCOUNT_DEPTH) throw new Error(`account tree deeper than ${MAX_ACCOUNT_DEPTH} or cyclic at ${id}`);
    current = parent;
  }
  return path.reverse();
}

/** Root is depth 1. */
export function depthOf(id: string, parents: ParentMap, field = 'account_id'): number {
  return pathOf(id, parents, field).length;
}

/** Strict ancestors, root first (excludes `id`). */
export function ancestorsOf(id: string, parents: ParentMap, field = 'account_id'): string[] {
  return pathOf(id, parents, field).slice(0, -1);
}

/** Strict descendants in breadth-first order (excludes `id`). */
export function descendantsOf(id: string, parents: ParentMap, field = 'account_id'): string[] {
  if (!parents.has(id)) throw notFound(field, 'account');
  const children = childrenIndex(parents);
  const out: string[] = [];
  const queue = [id];
  for (let i = 0; i < queue.length; i++) {
    for (const child of children.get(queue[i]!) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

/** Levels below `id` (0 for a leaf): what a move must fit under the depth limit. */
export function subtreeHeightOf(id: string, parents: ParentMap): number {
  const children = childrenIndex(parents);
  const height = (node: string): number => Math.max(0, ...(children.get(node) ?? []).map((child) => 1 + height(child)));
  return height(id);
}

/** Refuses a new subaccount under `parentId` when it would be at depth 9 or deeper. */
export function assertCanAddChild(parentId: string, parents: ParentMap, field = 'parent_id'): void {
  if (depthOf(parentId, parents, field) + 1 > MAX_ACCOUNT_DEPTH) throw accountTreeTooDeep(field, MAX_ACCOUNT_DEPTH);
}

/** Refuses moving `id` (with its subtree) under `newParentId` when it would create a cycle or exceed the depth. */
export function assertCanMove(id: string, newParentId: string, parents: ParentMap, field = 'parent_id'): void {
  const newParentPath = pathOf(newParentId, parents, field);
  if (newParentPath.includes(id)) throw invalidArgument(field, 'an account cannot move under itself or its own subaccount');
  if (newParentPath.length + 1 + subtreeHeightOf(id, parents) > MAX_ACCOUNT_DEPTH) throw accountTreeTooDeep(field, MAX_ACCOUNT_DEPTH);
}

export interface AccountState {
  id: string;
  suspended: boolean;
}

/** `path` is root-first down to the account (see `pathOf`); suspended if it or any ancestor is. */
export function isEffectivelySuspended(path: readonly AccountState[]): boolean {
  return path.some((account) => account.suspended);
}

/** The topmost suspended account on the path (the one to unsuspend), or undefined. */
export function suspendedBy(path: readonly AccountState[]): string | undefined {
  return path.find((account) => account.suspended)?.id;
}

function childrenIndex(parents: ParentMap): Map<string, string[]> {
  const children = new Map<string, string[]>();
  for (const [child, parent] of parents) {
    if (parent === null) continue;
    const list = children.get(parent);
    if (list) list.push(child);
    else children.set(parent, [child]);
  }
  return children;
}

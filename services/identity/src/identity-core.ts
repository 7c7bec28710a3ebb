import { newId } from '#libs/crypto/ids.ts';
import { failedPrecondition, invalidArgument, isUnavailable, notFound } from '#libs/errors/index.ts';
import { MAX_ACCOUNT_DEPTH, validateAccountName } from './domain/account-tree.ts';
import { accountTreeTooDeep } from './domain/errors.ts';
import { assertPasswordPolicy } from './domain/password-policy.ts';
import type { AccountRecord, IdentityStore, PasswordHasher, UserRecord } from './domain/ports.ts';
import { parseRole, type Role } from './domain/roles.ts';

const USERNAME = /^[A-Za-z0-9._@+-]{3,128}$/;

/** An optional email: empty is none; else at most 254 characters with one @ and a dot-free-or-not domain. */
export function validateEmail(email: string | undefined, field = 'email'): string | null {
  const value = (email ?? '').trim();
  if (!value) return null;
  if (value.length > 254 || !/^[^\s@]+@[^\s@]+$/.test(value)) throw invalidArgument(field, 'must be an email address (at most 254 characters)');
  return value;
}

export function validateUsername(username: string, field = 'username'): string {
  if (!USERNAME.test(username)) throw invalidArgument(field, 'must be 3-128 characters of letters, digits and . _ @ + -');
  return username;
}

/** Count limits from quota (`subaccounts`, `users`): each limited account on the path, root first. */
export type CountLimits = (metric: 'subaccounts' | 'users', accountId: string) => Promise<{ accountId: string; value: number }[]>;

/**
 * Identity's use cases over its store: the account tree, users and password checks.
 * (Sessions, TOTP, grants and audit build on this; see services/identity/README.md.)
 */
export function createIdentityCore(deps: { store: IdentityStore; hasher: PasswordHasher; countLimits?: CountLimits | undefined }) {
  const { store, hasher } = deps;

  /** A `subaccounts` limit counts the limited account's descendants; `users` the distinct members of its subtree. */
  async function assertCount(metric: 'subaccounts' | 'users', accountId: string, adding: number): Promise<void> {
    if (!deps.countLimits) return;
    let limits: { accountId: string; value: number }[];
    try {
      limits = await deps.countLimits(metric, accountId);
    } catch (error) {
      if (isUnavailable(error)) return; // quota down: fail open
      throw error;
    }
    for (const limit of limits) {
      const below = (await store.descendants(limit.accountId)).map((a) => a.id);
      const current = metric === 'subaccounts' ? below.length : await store.countUsersIn([limit.accountId, ...below]);
      if (current + adding > limit.value) {
        throw failedPrecondition(`${metric === 'subaccounts' ? 'parent_id' : 'account_id'}: the ${metric} limit of ${limit.value} set on ${limit.accountId} is reached (${current})`, {
          limiting_account: limit.accountId,
          limit: String(limit.value),
        });
      }
    }
  }

  async function createAccount(input: { name: string; parentId?: string | undefined }): Promise<AccountRecord> {
    const name = validateAccountName(input.name);
    let depth = 1;
    if (input.parentId) {
      const parent = await store.getAccount(input.parentId);
      if (!parent) throw notFound('parent_id', 'parent account');
      if (parent.depth >= MAX_ACCOUNT_DEPTH) throw accountTreeTooDeep('parent_id', MAX_ACCOUNT_DEPTH);
      depth = parent.depth + 1;
      await assertCount('subaccounts', input.parentId, 1);
    }
    return store.createAccount({ id: newId('acc'), name, parentId: input.parentId || undefined, depth });
  }

  async function getAccount(id: string): Promise<AccountRecord> {
    const account = await store.getAccount(id);
    if (!account) throw notFound('account_id', 'account');
    return account;
  }

  async function createUser(input: { username: string; password: string; accountId: string; role: string; email?: string | undefined }): Promise<UserRecord> {
    const username = validateUsername(input.username);
    const email = validateEmail(input.email);
    const role = parseRole(input.role);
    assertPasswordPolicy(input.password, { field: 'password', username });
    await getAccount(input.accountId).catch(() => {
      throw notFound('account_id', 'account');
    });
    await assertCount('users', input.accountId, 1);
    const passwordHash = await hasher.hash(input.password);
    return store.createUser({ id: newId('usr'), username, passwordHash, accountId: input.accountId, role, email });
  }

  /** Suspends (or resumes) an account: every check of it and its subtree is refused while suspended. */
  async function setSuspended(id: string, suspended: boolean): Promise<AccountRecord> {
    await getAccount(id);
    const affected = [id, ...(await store.descendants(id)).map((a) => a.id)];
    await store.changeAccount(id, { kind: suspended ? 'suspended' : 'resumed' }, affected);
    return getAccount(id);
  }

  async function renameAccount(id: string, name: string): Promise<AccountRecord> {
    const valid = validateAccountName(name);
    await getAccount(id);
    await store.changeAccount(id, { kind: 'renamed', name: valid }, [id]);
    return getAccount(id);
  }

  /** An account's 2FA and SSO policy (each only when given); it applies to the members of its whole subtree. */
  async function setAccountPolicy(id: string, policy: { requireTotp?: boolean | undefined; requireSso?: boolean | undefined }): Promise<AccountRecord> {
    await getAccount(id);
    const affected = [id, ...(await store.descendants(id)).map((a) => a.id)];
    await store.changeAccount(id, { kind: 'policy_changed', requireTotp: policy.requireTotp, requireSso: policy.requireSso }, affected);
    return getAccount(id);
  }

  return { store, createAccount, getAccount, createUser, setSuspended, renameAccount, setAccountPolicy };
}

export type IdentityCore = ReturnType<typeof createIdentityCore>;

/**
 * The contract every `IdentityStore` adapter passes: in-memory, PGlite and Postgres
 * (`../identity-stores.contract.test.ts`). Each case makes its own accounts and users (ids and
 * usernames with the case's tag); feed assertions look at the case's own accounts only.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { IdentityStore } from '../../src/domain/ports.ts';

export function describeIdentityStoreContract(name: string, createStore: () => Promise<IdentityStore> | IdentityStore, options: { skip?: string | undefined } = {}): void {
  const scope = () => {
    const tag = randomBytes(5).toString('hex');
    return { tag, acc: (n: string) => `acc_${tag}_${n}`, usr: (n: string) => `usr_${tag}_${n}`, username: (n: string) => `user-${tag}-${n}` };
  };

  describe.skipIf(options.skip !== undefined)(`IdentityStore contract: ${name}${options.skip ? ` (skipped: ${options.skip})` : ''}`, () => {
    it('creates accounts in a tree and answers each one and its path, root first', async () => {
      const store = await createStore();
      const { acc } = scope();
      const before = await store.countAccounts();
      const root = await store.createAccount({ id: acc('r'), name: 'Root', parentId: undefined, depth: 1 });
      expect(root).toEqual({ id: acc('r'), name: 'Root', parentId: undefined, depth: 1, state: 'active', requireTotp: false, requireSso: false, createdAtMs: expect.any(Number) });
      expect(Math.abs(root.createdAtMs - Date.now())).toBeLessThan(60_000);
      await store.createAccount({ id: acc('c'), name: 'Child', parentId: acc('r'), depth: 2 });
      await store.createAccount({ id: acc('g'), name: 'Grandchild', parentId: acc('c'), depth: 3 });
      expect(await store.getAccount(acc('c'))).toMatchObject({ id: acc('c'), parentId: acc('r'), depth: 2 });
      expect((await store.accountPath(acc('g'))).map((a) => a.id)).toEqual([acc('r'), acc('c'), acc('g')]);
      expect(await store.accountPath(acc('r'))).toEqual([root]);
      expect(await store.accountPath(acc('missing'))).toEqual([]);
      expect(await store.getAccount(acc('missing'))).toBeUndefined();
      expect(await store.countAccounts()).toBe(before + 3);
    });

    it('refuses a second account with the same id, or one under an unknown parent', async () => {
      const store = await createStore();
      const { acc } = scope();
      await store.createAccount({ id: acc('r'), name: 'Root', parentId: undefined, depth: 1 });
      await expect(store.createAccount({ id: acc('r'), name: 'Again', parentId: undefined, depth: 1 })).rejects.toThrow();
      await expect(store.createAccount({ id: acc('x'), name: 'Orphan', parentId: acc('missing'), depth: 2 })).rejects.toThrow();
      expect((await store.getAccount(acc('r')))?.name).toBe('Root');
      expect(await store.getAccount(acc('x'))).toBeUndefined();
    });

    it('lists descendants shallowest first, then by id, a page at a time', async () => {
      const store = await createStore();
      const { acc } = scope();
      await store.createAccount({ id: acc('r'), name: 'r', parentId: undefined, depth: 1 });
      for (const [id, parent, depth] of [['b', 'r', 2], ['a', 'r', 2], ['a2', 'a', 3], ['a1', 'a', 3], ['b1', 'b', 3], ['a11', 'a1', 4]] as const) {
        await store.createAccount({ id: acc(id), name: id, parentId: acc(parent), depth });
      }
      const ids = (list: { id: string }[]) => list.map((a) => a.id);
      expect(ids(await store.descendants(acc('r')))).toEqual(['a', 'b', 'a1', 'a2', 'b1', 'a11'].map(acc));
      expect(ids(await store.descendants(acc('a')))).toEqual(['a1', 'a2', 'a11'].map(acc));
      expect(ids(await store.descendants(acc('r'), { limit: 2 }))).toEqual(['a', 'b'].map(acc));
      expect(ids(await store.descendants(acc('a'), { limit: 10, after: { depth: 3, id: acc('a1') } }))).toEqual(['a2', 'a11'].map(acc));
      // Pages follow (depth, id): a deeper account whose id sorts before the last one's still comes.
      expect(ids(await store.descendants(acc('r'), { limit: 10, after: { depth: 2, id: acc('b') } }))).toEqual(['a1', 'a2', 'b1', 'a11'].map(acc));
      expect(ids(await store.descendants(acc('r'), { limit: 10, after: { depth: 3, id: acc('b1') } }))).toEqual(['a11'].map(acc));
      expect(await store.descendants(acc('a11'))).toEqual([]);
    });

    it('changes an account and feeds each change in order with the accounts it affects', async () => {
      const store = await createStore();
      const { acc } = scope();
      const since = await store.latestAccountChange();
      await store.createAccount({ id: acc('r'), name: 'r', parentId: undefined, depth: 1 });
      await store.createAccount({ id: acc('c'), name: 'c', parentId: acc('r'), depth: 2 });
      const suspended = await store.changeAccount(acc('r'), { kind: 'suspended' }, [acc('r'), acc('c')]);
      expect((await store.getAccount(acc('r')))?.state).toBe('suspended');
      await store.changeAccount(acc('r'), { kind: 'resumed' }, [acc('r'), acc('c')]);
      await store.changeAccount(acc('c'), { kind: 'renamed', name: 'renamed' }, [acc('c')]);
      await store.changeAccount(acc('c'), { kind: 'policy_changed', requireTotp: true }, [acc('c')]);
      await store.changeAccount(acc('c'), { kind: 'policy_changed', requireSso: true }, [acc('c')]);
      const last = await store.changeAccount(acc('c'), { kind: 'policy_changed', requireTotp: false }, [acc('c')]);
      expect(await store.changeAccount(acc('missing'), { kind: 'suspended' }, [acc('missing')])).toBeUndefined();
      expect(await store.getAccount(acc('r'))).toMatchObject({ state: 'active' });
      expect(await store.getAccount(acc('c'))).toMatchObject({ name: 'renamed', state: 'active', requireTotp: false, requireSso: true });
      expect(last).toBeGreaterThan(suspended!);
      expect(await store.latestAccountChange()).toBe(last);
      const mine = (await store.accountChangesSince(since, 1_000)).filter((c) => c.accountId.startsWith(acc('')));
      expect(mine.map((c) => [c.kind, c.accountId, c.affected])).toEqual([
        ['created', acc('r'), [acc('r')]],
        ['created', acc('c'), [acc('c')]],
        ['suspended', acc('r'), [acc('r'), acc('c')]],
        ['resumed', acc('r'), [acc('r'), acc('c')]],
        ['renamed', acc('c'), [acc('c')]],
        ['policy_changed', acc('c'), [acc('c')]],
        ['policy_changed', acc('c'), [acc('c')]],
        ['policy_changed', acc('c'), [acc('c')]],
      ]);
      expect(mine.find((c) => c.kind === 'suspended')?.sequence).toBe(suspended);
      const sequences = mine.map((c) => c.sequence);
      expect(sequences).toEqual([...sequences].sort((x, y) => x - y));
      expect(await store.accountChangesSince(since, 2)).toHaveLength(2);
      expect(await store.accountChangesSince(last!, 10)).toEqual([]);
    });

    it('creates users with one membership, finds them by id and by username in any case, and refuses a taken username', async () => {
      const store = await createStore();
      const { acc, usr, username } = scope();
      await store.createAccount({ id: acc('r'), name: 'r', parentId: undefined, depth: 1 });
      const user = await store.createUser({ id: usr('1'), username: username('Alice'), passwordHash: '$argon2id$one', accountId: acc('r'), role: 'owner', email: 'Alice@Example.com' });
      expect(user).toEqual({ id: usr('1'), username: username('Alice'), passwordHash: '$argon2id$one', email: 'Alice@Example.com', memberships: [{ accountId: acc('r'), role: 'owner' }], createdAtMs: expect.any(Number) });
      expect(await store.getUser(usr('1'))).toEqual(user);
      expect(await store.findUserByUsername(username('alice').toUpperCase())).toEqual(user);
      await expect(store.createUser({ id: usr('2'), username: username('ALICE'), passwordHash: 'x', accountId: acc('r'), role: 'viewer' })).rejects.toMatchObject({ code: 'ALREADY_EXISTS', details: { field: 'username' } });
      expect(await store.getUser(usr('2'))).toBeUndefined();
      await store.setPasswordHash(usr('1'), '$argon2id$two');
      expect((await store.getUser(usr('1')))?.passwordHash).toBe('$argon2id$two');
      expect(await store.findUserByUsername(username('nobody'))).toBeUndefined();
      const noEmail = await store.createUser({ id: usr('3'), username: username('bob'), passwordHash: 'x', accountId: acc('r'), role: 'member' });
      expect(noEmail.email).toBeNull();
    });

    it('adds, changes and removes memberships, oldest first, and counts owners and users', async () => {
      const store = await createStore();
      const { acc, usr, username } = scope();
      for (const id of ['r', 'x']) await store.createAccount({ id: acc(id), name: id, parentId: undefined, depth: 1 });
      await store.createUser({ id: usr('1'), username: username('1'), passwordHash: 'x', accountId: acc('r'), role: 'owner' });
      await store.createUser({ id: usr('2'), username: username('2'), passwordHash: 'x', accountId: acc('r'), role: 'viewer' });
      await store.createUser({ id: usr('3'), username: username('3'), passwordHash: 'x', accountId: acc('x'), role: 'owner' });
      await store.setMembership(usr('1'), acc('x'), 'admin');
      await store.setMembership(usr('2'), acc('r'), 'owner');
      expect((await store.getUser(usr('1')))?.memberships).toEqual([
        { accountId: acc('r'), role: 'owner' },
        { accountId: acc('x'), role: 'admin' },
      ]);
      await store.setMembership(usr('1'), acc('r'), 'member');
      expect((await store.getUser(usr('1')))?.memberships).toEqual([
        { accountId: acc('r'), role: 'member' },
        { accountId: acc('x'), role: 'admin' },
      ]);
      expect(await store.countOwners(acc('r'))).toBe(1);
      expect(await store.countOwners(acc('x'))).toBe(1);
      expect(await store.countUsersIn([acc('r'), acc('x')])).toBe(3);
      expect(await store.countUsersIn([acc('x')])).toBe(2);
      expect(await store.countUsersIn([])).toBe(0);
      await store.removeMembership(usr('1'), acc('x'));
      await store.removeMembership(usr('1'), acc('missing'));
      expect((await store.getUser(usr('1')))?.memberships).toEqual([{ accountId: acc('r'), role: 'member' }]);
      expect(await store.countUsersIn([acc('x')])).toBe(1);
    });

    it('lists an account direct members by id, a page at a time', async () => {
      const store = await createStore();
      const { acc, usr, username } = scope();
      for (const id of ['r', 'x']) await store.createAccount({ id: acc(id), name: id, parentId: undefined, depth: 1 });
      for (const n of ['3', '1', '4', '2']) await store.createUser({ id: usr(n), username: username(n), passwordHash: 'x', accountId: acc(n === '4' ? 'x' : 'r'), role: 'member' });
      const ids = (list: { id: string }[]) => list.map((u) => u.id);
      expect(ids(await store.listUsers(acc('r'), { limit: 10 }))).toEqual(['1', '2', '3'].map(usr));
      const page1 = await store.listUsers(acc('r'), { limit: 2 });
      expect(ids(page1)).toEqual(['1', '2'].map(usr));
      expect(ids(await store.listUsers(acc('r'), { limit: 2, afterId: page1.at(-1)!.id }))).toEqual([usr('3')]);
      expect(await store.listUsers(acc('r'), { limit: 2, afterId: usr('3') })).toEqual([]);
      expect((await store.listUsers(acc('r'), { limit: 10 }))[0]?.memberships).toEqual([{ accountId: acc('r'), role: 'member' }]);
    });

    it('finds direct members by email in any case, or by a username that is the address when they have no email', async () => {
      const store = await createStore();
      const { tag, acc, usr } = scope();
      for (const id of ['r', 'c']) await store.createAccount({ id: acc(id), name: id, parentId: id === 'c' ? acc('r') : undefined, depth: id === 'c' ? 2 : 1 });
      const mail = `Dana.${tag}@Example.com`;
      await store.createUser({ id: usr('1'), username: `dana-${tag}`, passwordHash: 'x', accountId: acc('r'), role: 'member', email: mail });
      await store.createUser({ id: usr('2'), username: mail.toLowerCase(), passwordHash: 'x', accountId: acc('r'), role: 'member' });
      await store.createUser({ id: usr('3'), username: `other-${tag}`, passwordHash: 'x', accountId: acc('r'), role: 'member', email: `other.${tag}@example.com` });
      await store.createUser({ id: usr('4'), username: `child-${tag}`, passwordHash: 'x', accountId: acc('c'), role: 'member', email: mail });
      await store.createUser({ id: usr('5'), username: `shadow-${tag}`, passwordHash: 'x', accountId: acc('r'), role: 'member', email: `else.${tag}@example.com` });
      expect((await store.findMembersByEmail(acc('r'), mail.toUpperCase())).map((u) => u.id).sort()).toEqual([usr('1'), usr('2')]);
      expect((await store.findMembersByEmail(acc('c'), mail)).map((u) => u.id)).toEqual([usr('4')]);
      expect(await store.findMembersByEmail(acc('r'), `shadow-${tag}`)).toEqual([]); // has an email: its username does not count
      expect(await store.findMembersByEmail(acc('r'), `nobody.${tag}@example.com`)).toEqual([]);
    });
  });
}

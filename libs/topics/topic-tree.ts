/**
 * Subscription trie of one account namespace, with shared-subscription groups at their node.
 * Pure: no I/O. One trie per account is the mount (ARCHITECTURE §2, broker edge): two accounts
 * using `devices/1` never share a node.
 */

export interface Subscription<S> {
  owner: S;
  /** As the client sent it (may be `$share/g/f`). */
  filter: string;
  qos: 0 | 1 | 2;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: number;
  subscriptionId: number | undefined;
  /** Shared group name, or undefined. */
  group: string | undefined;
  /** Granted overlapping a deny rule: each delivery is checked with the owner's `mayReceive`. */
  filtered?: boolean;
}

interface SharedGroup<S> {
  members: Subscription<S>[];
  next: number;
}

class TopicNode<S> {
  children: Map<string, TopicNode<S>> | undefined;
  subs: Map<S, Subscription<S>> | undefined;
  shared: Map<string, SharedGroup<S>> | undefined;
}

const DOLLAR = 0x24;

export class TopicTree<S> {
  readonly #root = new TopicNode<S>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Adds or replaces `sub.owner`'s subscription on `levelsFilter` (the inner filter for shared). Answers whether it existed. */
  add(levelsFilter: string, sub: Subscription<S>): boolean {
    let node = this.#root;
    for (const level of levelsFilter.split('/')) {
      node.children ??= new Map();
      let child = node.children.get(level);
      if (!child) {
        child = new TopicNode<S>();
        node.children.set(level, child);
      }
      node = child;
    }
    if (sub.group === undefined) {
      node.subs ??= new Map();
      const existed = node.subs.has(sub.owner);
      node.subs.set(sub.owner, sub);
      if (!existed) this.#size++;
      return existed;
    }
    node.shared ??= new Map();
    let group = node.shared.get(sub.group);
    if (!group) {
      group = { members: [], next: 0 };
      node.shared.set(sub.group, group);
    }
    const i = group.members.findIndex((m) => m.owner === sub.owner);
    if (i >= 0) {
      group.members[i] = sub;
      return true;
    }
    group.members.push(sub);
    this.#size++;
    return false;
  }

  remove(levelsFilter: string, owner: S, group: string | undefined): boolean {
    const path: TopicNode<S>[] = [this.#root];
    const levels = levelsFilter.split('/');
    let node = this.#root;
    for (const level of levels) {
      const child = node.children?.get(level);
      if (!child) return false;
      node = child;
      path.push(node);
    }
    let removed = false;
    if (group === undefined) {
      removed = node.subs?.delete(owner) ?? false;
    } else {
      const g = node.shared?.get(group);
      if (g) {
        const i = g.members.findIndex((m) => m.owner === owner);
        if (i >= 0) {
          g.members.splice(i, 1);
          removed = true;
          if (g.members.length === 0) node.shared!.delete(group);
        }
      }
    }
    if (!removed) return false;
    this.#size--;
    // Prune empty nodes so churn of unique topics cannot grow the trie without bound.
    for (let i = path.length - 1; i > 0; i--) {
      const n = path[i]!;
      if ((n.subs?.size ?? 0) > 0 || (n.shared?.size ?? 0) > 0 || (n.children?.size ?? 0) > 0) break;
      path[i - 1]!.children!.delete(levels[i - 1]!);
    }
    return true;
  }

  /** The members of shared `group` on exactly `levelsFilter` (no wildcard matching), if any. */
  sharedGroup(levelsFilter: string, group: string): { members: Subscription<S>[]; next: number } | undefined {
    let node: TopicNode<S> | undefined = this.#root;
    for (const level of levelsFilter.split('/')) {
      node = node.children?.get(level);
      if (!node) return undefined;
    }
    return node.shared?.get(group);
  }

  /**
   * Calls `onSub` for every non-shared subscription matching `topic`, and `onShared` once per
   * matching shared group with the group's members (the caller picks one, round-robin via `pickShared`).
   */
  match(topic: string, onSub: (sub: Subscription<S>) => void, onShared: (members: Subscription<S>[], group: { next: number }) => void): void {
    const levels = topic.split('/');
    // [MQTT-4.7.2-1] a filter starting with a wildcard does not match a topic starting with '$'.
    const dollar = topic.charCodeAt(0) === DOLLAR;
    this.#walk(this.#root, levels, 0, dollar, onSub, onShared);
  }

  #walk(
    node: TopicNode<S>,
    levels: string[],
    depth: number,
    dollar: boolean,
    onSub: (sub: Subscription<S>) => void,
    onShared: (members: Subscription<S>[], group: { next: number }) => void,
  ): void {
    const children = node.children;
    if (depth === levels.length) {
      emit(node, onSub, onShared);
      // 'a/#' matches 'a' [MQTT-4.7.1-2].
      const hash = children?.get('#');
      if (hash) emit(hash, onSub, onShared);
      return;
    }
    if (!children) return;
    const wild = !(dollar && depth === 0);
    if (wild) {
      const hash = children.get('#');
      if (hash) emit(hash, onSub, onShared);
      const plus = children.get('+');
      if (plus) this.#walk(plus, levels, depth + 1, dollar, onSub, onShared);
    }
    const exact = children.get(levels[depth]!);
    if (exact) this.#walk(exact, levels, depth + 1, dollar, onSub, onShared);
  }
}

function emit<S>(node: TopicNode<S>, onSub: (sub: Subscription<S>) => void, onShared: (members: Subscription<S>[], group: { next: number }) => void): void {
  if (node.subs) for (const sub of node.subs.values()) onSub(sub);
  if (node.shared) for (const g of node.shared.values()) onShared(g.members, g);
}

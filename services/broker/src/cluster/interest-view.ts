/**
 * What the other edges of the cluster subscribe to, as NATS subject patterns (`*` one token, `>`
 * one or more), counted per edge: an edge with no remote interest in a message's subject keeps the
 * message (issue 14: "a message with no remote subscriber never leaves its edge").
 *
 * A token trie: a lookup walks the subject's tokens (a literal child and a `*` child per level), and
 * answers are cached per subject until the view changes (devices publish on the same topics again
 * and again: the hot path is one Map lookup).
 */
interface Node {
  children: Map<string, Node> | undefined;
  /** Patterns ending at this node. */
  count: number;
  /** Patterns ending in `>` below this node. */
  rest: number;
}

const node = (): Node => ({ children: undefined, count: 0, rest: 0 });

export class InterestView {
  readonly #root = node();
  readonly #byEdge = new Map<string, Map<string, number>>();
  readonly #cache = new Map<string, boolean>();

  /** Edges with at least one pattern. */
  get edges(): number {
    return this.#byEdge.size;
  }

  add(edge: string, patterns: readonly string[]): void {
    let mine = this.#byEdge.get(edge);
    if (!mine) this.#byEdge.set(edge, (mine = new Map()));
    for (const p of patterns) {
      mine.set(p, (mine.get(p) ?? 0) + 1);
      this.#change(p, 1);
    }
  }

  remove(edge: string, patterns: readonly string[]): void {
    const mine = this.#byEdge.get(edge);
    if (!mine) return;
    for (const p of patterns) {
      const n = mine.get(p);
      if (n === undefined) continue;
      if (n <= 1) mine.delete(p);
      else mine.set(p, n - 1);
      this.#change(p, -1);
    }
    if (mine.size === 0) this.#byEdge.delete(edge);
  }

  /** Everything `edge` is interested in now (its full state, after a reconnect or on joining). */
  replace(edge: string, patterns: readonly string[]): void {
    this.drop(edge);
    this.add(edge, patterns);
  }

  /** An edge gone (stopped or dead): none of its interest holds. */
  drop(edge: string): void {
    const mine = this.#byEdge.get(edge);
    if (!mine) return;
    for (const [p, n] of mine) for (let i = 0; i < n; i++) this.#change(p, -1);
    this.#byEdge.delete(edge);
  }

  /** Does any edge's pattern match this (literal) subject? */
  matches(subject: string): boolean {
    let hit = this.#cache.get(subject);
    if (hit === undefined) {
      hit = match(this.#root, subject.split('.'), 0);
      if (this.#cache.size >= 10_000) this.#cache.clear();
      this.#cache.set(subject, hit);
    }
    return hit;
  }

  #change(pattern: string, by: 1 | -1): void {
    this.#cache.clear();
    const tokens = pattern.split('.');
    const path: Array<[Node, string]> = [];
    let at = this.#root;
    const last = tokens.length - 1;
    for (let i = 0; i <= last; i++) {
      const t = tokens[i]!;
      if (t === '>' && i === last) {
        at.rest += by;
        break;
      }
      let next = at.children?.get(t);
      if (!next) {
        if (by < 0) return;
        (at.children ??= new Map()).set(t, (next = node()));
      }
      path.push([at, t]);
      at = next;
      if (i === last) at.count += by;
    }
    // Prune what emptied, leaf first: filters come and go, the trie does not grow with history.
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, t] = path[i]!;
      const child = parent.children!.get(t)!;
      if (child.count > 0 || child.rest > 0 || (child.children?.size ?? 0) > 0) break;
      parent.children!.delete(t);
      if (parent.children!.size === 0) parent.children = undefined;
    }
  }
}

function match(at: Node, tokens: readonly string[], i: number): boolean {
  if (i === tokens.length) return at.count > 0;
  if (at.rest > 0) return true;
  const children = at.children;
  if (!children) return false;
  const literal = children.get(tokens[i]!);
  if (literal && match(literal, tokens, i + 1)) return true;
  const star = children.get('*');
  return star !== undefined && match(star, tokens, i + 1);
}

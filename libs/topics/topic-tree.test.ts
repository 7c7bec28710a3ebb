import { describe, expect, it } from 'vitest';
import { TopicTree, type Subscription } from './topic-tree.ts';

function sub(owner: string, filter: string, group?: string): Subscription<string> {
  return { owner, filter, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: undefined, group };
}

function matches(tree: TopicTree<string>, topic: string): string[] {
  const out: string[] = [];
  tree.match(
    topic,
    (s) => out.push(`${s.owner}:${s.filter}`),
    (members, g) => {
      const s = members[g.next % members.length]!;
      g.next++;
      out.push(`${s.owner}:${s.filter}`);
    },
  );
  return out.sort();
}

describe('TopicTree', () => {
  const cases: Array<[string, string, boolean]> = [
    ['a/b', 'a/b', true],
    ['a/+', 'a/b', true],
    ['a/+', 'a/b/c', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['#', 'a/b', true],
    ['#', '$SYS/x', false],
    ['+/x', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
    ['+/+', '/x', true],
    ['a//b', 'a//b', true],
  ];
  it.each(cases)('%s matches %s: %s', (filter, topic, expected) => {
    const tree = new TopicTree<string>();
    tree.add(filter, sub('c', filter));
    expect(matches(tree, topic).length === 1).toBe(expected);
  });

  it('remove prunes and answers whether it existed', () => {
    const tree = new TopicTree<string>();
    expect(tree.add('a/b', sub('c', 'a/b'))).toBe(false);
    expect(tree.add('a/b', sub('c', 'a/b'))).toBe(true);
    expect(tree.size).toBe(1);
    expect(tree.remove('a/b', 'c', undefined)).toBe(true);
    expect(tree.remove('a/b', 'c', undefined)).toBe(false);
    expect(tree.size).toBe(0);
  });

  it('shared groups yield one member per group', () => {
    const tree = new TopicTree<string>();
    tree.add('j/+', sub('m1', '$share/g/j/+', 'g'));
    tree.add('j/+', sub('m2', '$share/g/j/+', 'g'));
    tree.add('j/#', sub('m3', '$share/h/j/#', 'h'));
    expect(matches(tree, 'j/1')).toEqual(['m1:$share/g/j/+', 'm3:$share/h/j/#']);
    expect(matches(tree, 'j/1')).toEqual(['m2:$share/g/j/+', 'm3:$share/h/j/#']);
    expect(tree.remove('j/+', 'm1', 'g')).toBe(true);
    expect(tree.size).toBe(2);
  });
});

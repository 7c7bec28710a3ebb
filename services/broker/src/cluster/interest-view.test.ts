import { describe, expect, it } from 'vitest';
import { InterestView } from './interest-view.ts';

describe('InterestView', () => {
  it('matches literal, * and > patterns of other edges', () => {
    const v = new InterestView();
    expect(v.matches('c.msg.a.x')).toBe(false);
    v.add('e1', ['c.msg.a.x.*', 'c.msg.b.>']);
    expect(v.matches('c.msg.a.x.y')).toBe(true);
    expect(v.matches('c.msg.a.x')).toBe(false);
    expect(v.matches('c.msg.a.x.y.z')).toBe(false);
    expect(v.matches('c.msg.b.1')).toBe(true);
    expect(v.matches('c.msg.b.1.2.3')).toBe(true);
    // `>` needs at least one token (the bare parent is a pattern of its own, as subject-codec declares it).
    expect(v.matches('c.msg.b')).toBe(false);
  });

  it('counts per edge: a pattern holds until its last holder removes it; a dropped edge takes all its interest', () => {
    const v = new InterestView();
    v.add('e1', ['c.msg.a.t']);
    v.add('e2', ['c.msg.a.t']);
    v.add('e1', ['c.msg.a.t']);
    expect(v.matches('c.msg.a.t')).toBe(true);
    v.remove('e1', ['c.msg.a.t']);
    v.remove('e1', ['c.msg.a.t']);
    expect(v.matches('c.msg.a.t')).toBe(true);
    v.drop('e2');
    expect(v.matches('c.msg.a.t')).toBe(false);
    expect(v.edges).toBe(0);
  });

  it('replace sets an edge to its full state; removing what was never added changes nothing', () => {
    const v = new InterestView();
    v.add('e1', ['c.msg.a.old']);
    v.remove('e1', ['c.msg.a.never']);
    v.replace('e1', ['c.msg.a.new', 'c.msg.a.new']);
    expect(v.matches('c.msg.a.old')).toBe(false);
    expect(v.matches('c.msg.a.new')).toBe(true);
    v.remove('e1', ['c.msg.a.new']);
    expect(v.matches('c.msg.a.new')).toBe(true);
    v.remove('e1', ['c.msg.a.new']);
    expect(v.matches('c.msg.a.new')).toBe(false);
  });
});

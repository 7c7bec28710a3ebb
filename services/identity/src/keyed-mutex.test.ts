import { describe, expect, it } from 'vitest';
import { KeyedMutex } from './keyed-mutex.ts';

describe('KeyedMutex', () => {
  it('runs sections of one key one at a time, in order, and other keys alongside', async () => {
    const mutex = new KeyedMutex();
    const log: string[] = [];
    const section = (key: string, name: string, ticks: number) =>
      mutex.run(key, async () => {
        log.push(`${name}:in`);
        for (let i = 0; i < ticks; i++) await Promise.resolve();
        log.push(`${name}:out`);
        return name;
      });
    const results = await Promise.all([section('a', 'a1', 5), section('a', 'a2', 1), section('b', 'b1', 1)]);
    expect(results).toEqual(['a1', 'a2', 'b1']);
    expect(log.indexOf('a1:out')).toBeLessThan(log.indexOf('a2:in'));
    expect(log.indexOf('b1:in')).toBeLessThan(log.indexOf('a1:out'));
    expect(mutex.size).toBe(0);
  });

  it('releases the key when a section throws', async () => {
    const mutex = new KeyedMutex();
    await expect(mutex.run('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await mutex.run('k', async () => 'next')).toBe('next');
    expect(mutex.size).toBe(0);
  });
});

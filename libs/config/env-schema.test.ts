import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bothOrNeither, ConfigError, distinctPorts, parseEnv, port } from './env-schema.ts';

const schema = z.object({ A_PORT: port(1), B_PORT: port(2), CERT: z.string().optional(), KEY: z.string().optional(), SECRET: z.string().regex(/^s_/, { message: 'expected s_…' }).optional() });
const checks = (v: Partial<z.infer<typeof schema>>) => [...bothOrNeither(v, 'CERT', 'KEY'), ...distinctPorts(v, ['A_PORT', 'B_PORT'])];

const problemsOf = (env: Record<string, string>) => {
  try {
    parseEnv(schema, env, checks);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
};

describe('parseEnv with checks across settings', () => {
  it('passes: defaults applied, result frozen', () => {
    const env = parseEnv(schema, { CERT: 'c', KEY: 'k' }, checks);
    expect(env).toEqual({ A_PORT: 1, B_PORT: 2, CERT: 'c', KEY: 'k' });
    expect(Object.isFrozen(env)).toBe(true);
  });

  it('reports value problems and cross-field problems together, never the values themselves', () => {
    const problems = problemsOf({ SECRET: 'hunter2', CERT: 'c', A_PORT: '9', B_PORT: '9' });
    expect(problems).toEqual(['SECRET: expected s_…', 'CERT and KEY: set both or neither', "B_PORT: port 9 is already A_PORT's (each port once)"]);
    expect(problems.join()).not.toContain('hunter2');
  });

  it('a check judges only settings that parsed: a bad port is reported once, by its own problem', () => {
    expect(problemsOf({ A_PORT: '99999', B_PORT: '1' })).toEqual(['A_PORT: expected a port number 0-65535']);
  });

  it('port 0 (pick a free one) may repeat; empty values count as unset', () => {
    expect(problemsOf({ A_PORT: '0', B_PORT: '0', CERT: ' ', KEY: '' })).toEqual([]);
  });

  it('one problem is the message; several are counted and listed', () => {
    expect(new ConfigError(['X: bad']).message).toBe('X: bad');
    expect(new ConfigError(['X: bad', 'Y: worse']).message).toBe('invalid configuration (2 problems): X: bad; Y: worse');
  });
});

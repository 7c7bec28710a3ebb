import { describe, expect, it } from 'vitest';
import { AppError } from '#libs/errors/index.ts';
import { validateRules } from './acl-rule.ts';
import { compileRules } from './acl-engine.ts';

const ok = { effect: 'allow', actions: ['publish'], resources: ['mqtt:a/#'] };

function fieldOf(rules: unknown): { field: string | undefined; message: string } {
  try {
    validateRules(rules);
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('INVALID_ARGUMENT');
    return { field: (error as AppError).field, message: (error as AppError).message };
  }
  throw new Error('expected INVALID_ARGUMENT');
}

describe('validateRules', () => {
  it('accepts good rules of every resource kind', () => {
    const rules = [
      ok,
      { effect: 'deny', actions: ['subscribe', 'publish'], resources: ['mqtt:devices/${client_id}/+/cmd', 'mqtt:$SYS/#'] },
      { effect: 'allow', actions: ['connect'], resources: ['mqtt:#'] },
      { effect: 'allow', actions: ['read', 'write'], resources: ['api:/accounts/${account}/**', 'api:/devices/*/telemetry', 'dataset:*', 'dataset:ds_1'] },
    ];
    expect(validateRules(rules)).toBe(rules);
    expect(compileRules(rules).ruleCount).toBe(4);
  });

  it('accepts exactly 1,000 rules and refuses 1,001', () => {
    expect(validateRules(Array(1000).fill(ok))).toHaveLength(1000);
    expect(fieldOf(Array(1001).fill(ok))).toMatchObject({ field: 'rules', message: /at most 1000/ });
  });

  const big = 'a'.repeat(65_535);
  const bad: [string, unknown, string, RegExp][] = [
    ['not an array', { effect: 'allow' }, 'rules', /array/],
    ['not an object', [ok, 'x'], 'rules[1]', /object/],
    ['unknown field', [ok, { ...ok, action: ['publish'] }], 'rules[1].action', /unknown field/],
    ['bad effect', [{ ...ok, effect: 'permit' }], 'rules[0].effect', /allow/],
    ['no actions', [{ ...ok, actions: [] }], 'rules[0].actions', /non-empty/],
    ['unknown action', [ok, ok, ok, { ...ok, actions: ['publish', 'fly'] }], 'rules[3].actions[1]', /unknown action "fly"/],
    ['no resources', [{ ...ok, resources: [] }], 'rules[0].resources', /non-empty/],
    ['non-string resource', [{ ...ok, resources: [7] }], 'rules[0].resources[0]', /string/],
    ['unknown kind', [{ ...ok, resources: ['topic:a'] }], 'rules[0].resources[0]', /mqtt:/],
    ['# not last', [ok, { ...ok, resources: ['mqtt:ok', 'mqtt:a/#/b'] }], 'rules[1].resources[1]', /last level/],
    ['+ inside a level', [{ ...ok, resources: ['mqtt:a+'] }], 'rules[0].resources[0]', /whole level/],
    ['empty filter', [{ ...ok, resources: ['mqtt:'] }], 'rules[0].resources[0]', /empty/],
    ['topic > 65,535 bytes', [{ ...ok, resources: [`mqtt:${big}/b`] }], 'rules[0].resources[0]', /65535 bytes/],
    ['shared filter', [{ ...ok, resources: ['mqtt:$share/g/a'] }], 'rules[0].resources[0]', /shared/],
    ['partial placeholder', [{ ...ok, resources: ['mqtt:devices/x${client_id}'] }], 'rules[0].resources[0]', /whole level/],
    ['placeholder with suffix', [{ ...ok, resources: ['mqtt:devices/${client_id}-x'] }], 'rules[0].resources[0]', /whole level/],
    ['unknown placeholder', [{ ...ok, resources: ['mqtt:devices/${device}'] }], 'rules[0].resources[0]', /unknown placeholder/],
    ['api relative', [{ ...ok, actions: ['read'], resources: ['api:devices'] }], 'rules[0].resources[0]', /start with/],
    ['api ** not last', [{ ...ok, actions: ['read'], resources: ['api:/a/**/b'] }], 'rules[0].resources[0]', /last segment/],
    ['api partial *', [{ ...ok, actions: ['read'], resources: ['api:/a/b*'] }], 'rules[0].resources[0]', /whole segment/],
    ['dataset partial *', [{ ...ok, actions: ['read'], resources: ['dataset:ds_*'] }], 'rules[0].resources[0]', /whole dataset id/],
    ['dataset empty', [{ ...ok, actions: ['read'], resources: ['dataset:'] }], 'rules[0].resources[0]', /empty/],
    ['no pair fits', [{ ...ok, actions: ['publish'], resources: ['api:/x'] }], 'rules[0].resources', /no resource fits/],
  ];
  it.each(bad)('%s → INVALID_ARGUMENT on the field', (_name, rules, field, message) => {
    const error = fieldOf(rules);
    expect(error.field).toBe(field);
    expect(error.message).toMatch(message);
  });

  it('compileRules validates too', () => {
    expect(() => compileRules([{ ...ok, resources: ['mqtt:a/#/b'] }])).toThrow(/rules\[0\]\.resources\[0\]/);
  });
});

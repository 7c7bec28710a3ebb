import { describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { CreateTokenRequestSchema } from '#gen/tollgate/authz/v1/authz_pb.js';
import { findBadText, isWellFormedText } from './request-text.ts';

describe('request text', () => {
  it.each([
    ['plain', true],
    ['é 😀 中文', true],
    ['', true],
    ['a\u0000', false],
    ['\uD800', false],
    ['x\uDC00y', false],
    ['\uFFFE', false],
    ['\uFFFF', false],
    ['\uFFFD', true],
  ])('%j well-formed: %s', (value, ok) => {
    expect(isWellFormedText(value)).toBe(ok);
  });

  it('names the first bad field with its proto path, through repeated messages', () => {
    const ok = create(CreateTokenRequestSchema, { accountId: 'acc_1', name: 'n', rules: [{ actions: ['publish'], resources: ['a/b'] }] });
    expect(findBadText(CreateTokenRequestSchema, ok)).toBeUndefined();
    const nested = create(CreateTokenRequestSchema, { accountId: 'acc_1', ipAllow: ['10.0.0.1', 'x\u0000'] });
    expect(findBadText(CreateTokenRequestSchema, nested)).toEqual({ field: 'ip_allow[1]', problem: 'must not contain NUL (U+0000)' });
    const deep = create(CreateTokenRequestSchema, { accountId: 'acc_1', rules: [{ resources: ['a'] }, { resources: ['ok', 'b\uFFFF'] }] });
    expect(findBadText(CreateTokenRequestSchema, deep)).toEqual({ field: 'rules[1].resources[1]', problem: 'must not contain the noncharacters U+FFFE or U+FFFF' });
    const surrogate = create(CreateTokenRequestSchema, { accountId: '\uD83D' });
    expect(findBadText(CreateTokenRequestSchema, surrogate)).toEqual({ field: 'account_id', problem: 'must not contain an unpaired surrogate' });
  });
});

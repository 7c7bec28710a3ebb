import { describe, expect, it } from 'vitest';
import { AppError } from '#libs/errors/index.ts';
import { compileIpAllowList, isIpAllowed, parseIpv6 } from './ip-allow-list.ts';

describe('parseIpv6', () => {
  it.each([
    ['::', [0, 0, 0, 0, 0, 0, 0, 0]],
    ['::1', [0, 0, 0, 0, 0, 0, 0, 1]],
    ['2001:db8::', [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]],
    ['2001:DB8:0:0:1:0:0:1', [0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]],
    ['fe80::1:2', [0xfe80, 0, 0, 0, 0, 0, 1, 2]],
    ['::ffff:10.1.2.3', [0, 0, 0, 0, 0, 0xffff, 0x0a01, 0x0203]],
    ['::10.1.2.3', [0, 0, 0, 0, 0, 0, 0x0a01, 0x0203]],
    ['1:2:3:4:5:6:10.1.2.3', [1, 2, 3, 4, 5, 6, 0x0a01, 0x0203]],
  ] as const)('%s', (text, groups) => expect(parseIpv6(text)).toEqual(groups));

  it.each(['', ':', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'g::', '1:2:3:4:5:6:7:8::', 'fe80::1%eth0', '::ffff:300.1.2.3'])(
    'rejects %j',
    (text) => expect(parseIpv6(text)).toBeNull(),
  );
});

describe('isIpAllowed', () => {
  const list = compileIpAllowList(['10.0.0.0/8', '2001:db8::/32', '10.100.15.*', '192.168.56.1?', '203.0.113.7', '::1', '172.16.*.1']);
  it.each([
    ['10.1.2.3', true],
    ['10.255.255.255', true],
    ['11.0.0.1', false],
    ['2001:db8::1', true],
    ['2001:db8:ffff::1', true],
    ['2001:db9::1', false],
    ['10.100.15.0', true],
    ['10.100.15.255', true],
    ['10.100.16.1', true], // also inside 10.0.0.0/8
    ['192.168.56.10', true],
    ['192.168.56.19', true],
    ['192.168.56.1', false],
    ['192.168.56.100', false],
    ['192.168.56.20', false],
    ['203.0.113.7', true],
    ['203.0.113.8', false],
    ['::1', true],
    ['::2', false],
    ['172.16.200.1', true],
    ['172.16.200.2', false],
    ['::ffff:10.9.9.9', true], // IPv4-mapped IPv6
    ['::ffff:192.168.56.15', true],
    ['::ffff:8.8.8.8', false],
    ['not an ip', false],
    ['10.1.2', false],
    ['010.1.2.3', false],
    ['', false],
  ] as const)('%s → %s', (ip, allowed) => expect(isIpAllowed(list, ip)).toBe(allowed));

  it('IPv6 prefixes that split a group, and ::ffff:0:0/96 for mapped addresses', () => {
    const v6 = compileIpAllowList(['2001:db8:f000::/36', '::ffff:0:0/96']);
    expect(isIpAllowed(v6, '2001:db8:fabc::1')).toBe(true);
    expect(isIpAllowed(v6, '2001:db8:e000::1')).toBe(false);
    expect(isIpAllowed(v6, '::ffff:1.2.3.4')).toBe(true);
    expect(isIpAllowed(v6, '1.2.3.4')).toBe(false); // a plain IPv4 peer is not an IPv6 address
  });

  it('an empty list allows every address', () => {
    expect(isIpAllowed(compileIpAllowList([]), '1.2.3.4')).toBe(true);
  });

  it('a /0 allows every IPv4 address; ::/0 every IPv6 address', () => {
    expect(isIpAllowed(compileIpAllowList(['0.0.0.0/0']), '8.8.8.8')).toBe(true);
    expect(isIpAllowed(compileIpAllowList(['0.0.0.0/0']), '2001::1')).toBe(false);
    expect(isIpAllowed(compileIpAllowList(['::/0']), '2001::1')).toBe(true);
  });

  it.each([
    [['10.0.0.0/8', 'nope'], 'ip_allow_list[1]', /not an IPv4/],
    [['10.0.0.1/8'], 'ip_allow_list[0]', /host bits/],
    [['10.0.0.0/33'], 'ip_allow_list[0]', /0–32/],
    [['2001:db8::/129'], 'ip_allow_list[0]', /0–128/],
    [['2001:db8::1/32'], 'ip_allow_list[0]', /host bits/],
    [['10.100.*'], 'ip_allow_list[0]', /four octets/],
    [['10.100.15.3*4*'], 'ip_allow_list[0]', /bad mask octet/],
    [['10.100.15.9??'], 'ip_allow_list[0]', /bad mask octet/],
    [['1.2.3.4', ''], 'ip_allow_list[1]', /empty/],
    [[7], 'ip_allow_list[0]', /string/],
  ])('%j → INVALID_ARGUMENT %s', (entries, field, message) => {
    try {
      compileIpAllowList(entries);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).field).toBe(field);
      expect((error as AppError).message).toMatch(message);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { clientMetadata, mayApproveGrant, validateClientSettings, validateRedirectUri, type OAuthClient } from './oauth-client.ts';

describe('validateRedirectUri', () => {
  it.each([
    ['web', 'https://app.example.com/callback'],
    ['web', 'http://localhost:3000/cb'],
    ['spa', 'http://127.0.0.1:5173/cb'],
    ['native', 'http://127.0.0.1/cb'],
    ['native', 'http://[::1]:8080/cb'],
    ['native', 'com.example.app:/oauth2redirect'],
  ] as const)('accepts %s %s', (type, uri) => {
    expect(validateRedirectUri(type, uri, 'redirect_uris[0]')).toBe(uri);
  });

  it.each([
    ['web', 'http://app.example.com/cb', /https/],
    ['web', 'https://app.example.com/cb#frag', /fragment/],
    ['web', 'https://*.example.com/cb', /wildcards/],
    ['web', '/relative', /absolute/],
    ['web', 'myapp:/cb', /https/],
    ['native', 'https://app.example.com/cb', /loopback/],
    ['native', 'myapp:/cb', /private-use/],
    ['spa', 'javascript:alert(1)', /https/],
  ] as const)('refuses %s %s naming the field', (type, uri, problem) => {
    expect(() => validateRedirectUri(type, uri, 'redirect_uris[2]')).toThrow(expect.objectContaining({ field: 'redirect_uris[2]', message: expect.stringMatching(problem) }));
  });
});

describe('validateClientSettings', () => {
  const base = { name: 'App', redirectUris: [], postLogoutRedirectUris: [], scopes: [] };
  it('requires redirect URIs for redirecting types and refuses them for the others', () => {
    expect(() => validateClientSettings({ ...base, type: 'web' })).toThrow(expect.objectContaining({ field: 'redirect_uris' }));
    expect(() => validateClientSettings({ ...base, type: 'device', redirectUris: ['https://a.example/cb'] })).toThrow(expect.objectContaining({ field: 'redirect_uris' }));
  });
  it('defaults scopes by type and refuses unknown ones', () => {
    expect(validateClientSettings({ ...base, type: 'service' }).scopes).toEqual(['tollgate']);
    expect(validateClientSettings({ ...base, type: 'device' }).scopes).toEqual(['openid', 'offline_access', 'profile', 'email', 'tollgate']);
    expect(() => validateClientSettings({ ...base, type: 'service', scopes: ['openid'] })).toThrow(expect.objectContaining({ field: 'scopes[0]' }));
    expect(() => validateClientSettings({ ...base, type: 'device', scopes: ['admin'] })).toThrow(expect.objectContaining({ field: 'scopes[0]' }));
  });
  it('refuses an empty or overlong name', () => {
    expect(() => validateClientSettings({ ...base, type: 'service', name: '  ' })).toThrow(expect.objectContaining({ field: 'name' }));
    expect(() => validateClientSettings({ ...base, type: 'service', name: 'x'.repeat(101) })).toThrow(expect.objectContaining({ field: 'name' }));
  });
});

describe('clientMetadata', () => {
  const client = (type: OAuthClient['type'], scopes = ['openid', 'offline_access']): OAuthClient => ({
    id: 'cli_00000000000000000000', accountId: 'acc_00000000000000000000', name: 'App', type, secretHash: type === 'web' || type === 'service' ? 'ab'.repeat(32) : null,
    redirectUris: ['https://a.example/cb'], postLogoutRedirectUris: [], scopes, aclRules: null, aclTokenId: null, firstParty: false, idTokenAlg: 'EdDSA', disabled: false, createdAtMs: 0, updatedAtMs: 0,
  });
  it('maps each type to its grants and authentication', () => {
    expect(clientMetadata(client('web'))).toMatchObject({ token_endpoint_auth_method: 'client_secret_basic', grant_types: ['authorization_code', 'refresh_token'], client_secret: 'ab'.repeat(32) });
    expect(clientMetadata(client('spa', ['openid']))).toMatchObject({ token_endpoint_auth_method: 'none', grant_types: ['authorization_code'] });
    expect(clientMetadata(client('spa'))).not.toHaveProperty('client_secret');
    expect(clientMetadata(client('service', ['tollgate']))).toMatchObject({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [] });
    expect(clientMetadata(client('device'))).toMatchObject({ token_endpoint_auth_method: 'none', grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'] });
  });
});

describe('mayApproveGrant', () => {
  const bound = { aclTokenId: 'tok_1' };
  const path = ['acc_root', 'acc_fleet'];
  it('lets a person who may write on the client\'s account or an ancestor approve a bound client (owner, admin, member)', () => {
    expect(mayApproveGrant(bound, [{ accountId: 'acc_fleet', role: 'member' }], path)).toBe(true);
    expect(mayApproveGrant(bound, [{ accountId: 'acc_fleet', role: 'admin' }], path)).toBe(true);
    expect(mayApproveGrant(bound, [{ accountId: 'acc_root', role: 'owner' }], path)).toBe(true);
  });
  it('refuses a viewer: approving a device puts it on the data plane, and a viewer only reads', () => {
    expect(mayApproveGrant(bound, [{ accountId: 'acc_fleet', role: 'viewer' }], path)).toBe(false);
    expect(mayApproveGrant(bound, [{ accountId: 'acc_root', role: 'viewer' }], path)).toBe(false);
  });
  it('refuses everyone else for a bound client: another account, a child account, no membership', () => {
    expect(mayApproveGrant(bound, [{ accountId: 'acc_other', role: 'owner' }], path)).toBe(false);
    expect(mayApproveGrant(bound, [{ accountId: 'acc_fleet_child', role: 'owner' }], path)).toBe(false);
    expect(mayApproveGrant(bound, [], path)).toBe(false);
  });
  it('lets anyone sign in to an unbound client (its tokens are the person\'s own credential)', () => {
    expect(mayApproveGrant({ aclTokenId: null }, [{ accountId: 'acc_other', role: 'viewer' }], path)).toBe(true);
  });
});

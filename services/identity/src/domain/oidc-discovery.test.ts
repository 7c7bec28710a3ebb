import { describe, expect, it } from 'vitest';
import { buildDiscoveryDocument } from './oidc-discovery.ts';

describe('buildDiscoveryDocument', () => {
  it('describes issuer, jwks and EdDSA', () => {
    expect(buildDiscoveryDocument({ issuer: 'https://id.example.com/' })).toMatchObject({
      issuer: 'https://id.example.com',
      jwks_uri: 'https://id.example.com/.well-known/jwks.json',
      id_token_signing_alg_values_supported: ['EdDSA'],
      subject_types_supported: ['public'],
    });
    expect(buildDiscoveryDocument({ issuer: 'http://localhost:7100', tokenEndpoint: 'http://localhost:7100/v1/login' }).token_endpoint).toBe('http://localhost:7100/v1/login');
  });

  it.each([
    ['not a url', 'id.example.com'],
    ['plain http off localhost', 'http://id.example.com'],
    ['a query', 'https://id.example.com/?tenant=1'],
    ['a fragment', 'https://id.example.com/#x'],
  ])('rejects an issuer with %s', (_case, issuer) => {
    expect(() => buildDiscoveryDocument({ issuer })).toThrow(/^issuer: /);
  });
});

import { describe, expect, it } from 'vitest';
import { NodeRandomSource, NodeSecretDigest } from './node-random-source.ts';

describe('node adapters', () => {
  it('NodeSecretDigest is SHA-256 hex', () => {
    expect(new NodeSecretDigest().sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
  it('NodeRandomSource gives fresh bytes of the asked size', () => {
    const random = new NodeRandomSource();
    expect(random.bytes(32)).toHaveLength(32);
    expect(random.bytes(32)).not.toEqual(random.bytes(32));
  });
});

import { createHash, randomBytes } from 'node:crypto';
import type { RandomSource, SecretDigest } from '../domain/ports.ts';

/** `RandomSource` over the OS CSPRNG. */
export class NodeRandomSource implements RandomSource {
  bytes(size: number): Uint8Array {
    return new Uint8Array(randomBytes(size));
  }
}

/** `SecretDigest` over node:crypto SHA-256. */
export class NodeSecretDigest implements SecretDigest {
  sha256Hex(text: string): string {
    return createHash('sha256').update(text, 'utf8').digest('hex');
  }
}

import { hash } from 'node:crypto';
import type { AuthenticateRequest } from './ports.ts';

/**
 * The key a CONNECT's credentials are cached under: one one-shot SHA-256 of one string (no Hash
 * object and an update per part), so only a digest is held, never the secret. The parts are
 * NUL-separated and CONNECT refuses credentials and client ids holding a NUL before this, so
 * distinct requests never share a key; the password bytes are taken as latin1 (lossless).
 * `withClientId`: the broker's own cache also keys on the client id (ACL rules may name it).
 */
export function credentialKey(req: AuthenticateRequest, withClientId: boolean): string {
  const username = req.username ?? '\u0000anonymous';
  const password = req.password === undefined ? '' : req.password.toString('latin1');
  return hash('sha256', withClientId ? `${username}\u0000${password}\u0000${req.clientId}\u0000${req.peerIp}` : `${username}\u0000${password}\u0000${req.peerIp}`, 'base64');
}

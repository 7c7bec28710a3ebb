import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Service-to-service credential: `tgsvc_<service>_<mac>`, an HMAC-SHA256 of the service name under
 * the mesh's TOLLGATE_SECRET_KEY. Only processes holding that key can mint one, so internal RPCs
 * (authz asking identity for an account path, say) stay closed to everyone else. In production put
 * mutual TLS under it as well.
 */
const PREFIX = 'tgsvc_';
const SERVICE = /^[a-z]{2,16}$/;

export function mintServiceCredential(secretKey: Uint8Array, service: string): string {
  if (!SERVICE.test(service)) throw new Error('service name must be 2-16 lower-case letters');
  return `${PREFIX}${service}_${mac(secretKey, service)}`;
}

/** The calling service's name, or undefined when the credential is not one of ours. */
export function verifyServiceCredential(secretKey: Uint8Array, bearer: string): string | undefined {
  if (!bearer.startsWith(PREFIX)) return undefined;
  const rest = bearer.slice(PREFIX.length);
  const cut = rest.indexOf('_');
  if (cut < 0) return undefined;
  const service = rest.slice(0, cut);
  if (!SERVICE.test(service)) return undefined;
  const expected = Buffer.from(mac(secretKey, service));
  const given = Buffer.from(rest.slice(cut + 1));
  return given.length === expected.length && timingSafeEqual(given, expected) ? service : undefined;
}

export function isServiceCredential(bearer: string): boolean {
  return bearer.startsWith(PREFIX);
}

function mac(secretKey: Uint8Array, service: string): string {
  return createHmac('sha256', secretKey).update(`tollgate-service:${service}`).digest('base64url');
}

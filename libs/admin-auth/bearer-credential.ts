/**
 * The one reader of `authorization: Bearer <credential>` (gRPC metadata, Envoy's HTTP header, the
 * console): RFC 9110 §11.1 makes the scheme case-insensitive; surrounding blanks are dropped.
 * Undefined when there is no Bearer credential.
 */
export function parseBearer(header: string | undefined): string | undefined {
  if (!header || !/^bearer /i.test(header)) return undefined;
  const credential = header.slice(7).trim();
  return credential || undefined;
}

interface KoaLike {
  body?: unknown;
}

/**
 * RFC 6749 §5.2 names the error for "the authenticated client is not authorized to use this
 * authorization grant type" `unauthorized_client`; oidc-provider answers `invalid_request` with
 * this description. Relying parties branch on the code, so the token endpoint says the standard one.
 */
export async function standardGrantErrorCodes(ctx: KoaLike, next: () => Promise<unknown>): Promise<void> {
  await next();
  const body = ctx.body as { error?: string; error_description?: string } | undefined;
  if (body?.error === 'invalid_request' && body.error_description === 'requested grant type is not allowed for this client') {
    ctx.body = { ...body, error: 'unauthorized_client' };
  }
}

import type { TokenKind, TokenRule } from '../domain/token-record.ts';
import type { AuthenticateRefusal } from '../domain/decision-reason.ts';

/** Who a credential is, once authenticated. */
export interface Principal {
  accountId: string;
  subject: string;
  kind: TokenKind | 'user';
  /** For users (identity JWT or password): their role in `accountId`. */
  role?: string | undefined;
  superuser: boolean;
  tokenId: string | undefined;
  expiresAtMs: number | undefined;
  /** OAuth access tokens: the grant (refresh-token family, `grt_…`) they were issued from. */
  grantId?: string | undefined;
}

export type AuthenticateOutcome =
  | { allowed: true; reason: 'ALLOWED'; principal: Principal; rules: TokenRule[]; cacheTtlMs: number }
  | { allowed: false; reason: AuthenticateRefusal; cacheTtlMs: number };

/**
 * Where a credential was presented from: the client's address, or a function that reads it on first
 * use (gRPC Authorize without `peer_ip`: the connection's address, which grpc-js formats on every
 * ask). Only a token with an IP allow-list, a password check and a kept decision read it.
 */
export type PeerIp = string | undefined | (() => string | undefined);

export const resolvePeerIp = (peerIp: PeerIp): string | undefined => (typeof peerIp === 'function' ? peerIp() : peerIp);

/** What a caller presents: a token id, a bearer, a username/password pair, or a remembered login. */
export interface Credential {
  /** In-process adapters only: a principal resolved earlier (e.g. a broker's remembered login). */
  authenticated?: AuthenticateOutcome | undefined;
  tokenId?: string | undefined;
  bearer?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
}

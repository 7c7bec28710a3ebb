-- OAuth grants the provider ended whose revocation authz has not yet acknowledged (RevokeGrants):
-- delivered at once, retried until authz takes them, dropped once their access tokens have expired.
create table identity.oauth_revoked_grants (
  grant_ref text primary key,
  expires_at timestamptz not null
);

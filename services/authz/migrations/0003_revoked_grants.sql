-- OAuth grants (refresh-token families) identity's provider ended: an access token whose `gid`
-- claim names one is refused until it would have expired anyway.
create table authz.revoked_grants (
  grant_id text primary key,
  expires_at timestamptz not null,
  revoked_at timestamptz not null default now()
);
create index revoked_grants_expires_idx on authz.revoked_grants (expires_at);
-- GRANT_REVOKED events name the grant, not a token.
alter table authz.invalidations add column grant_id text;

-- API tokens (flespi style). Only SHA-256 digests of secrets are stored.
create table authz.tokens (
  id text primary key,
  account_id text not null,
  name text not null,
  kind text not null check (kind in ('master', 'standard', 'acl')),
  secret_hash text not null unique,
  -- flespi short form (token id + first 16 chars of the secret): its own digest, acl tokens only.
  short_hash text unique,
  previous_secret_hash text unique,
  previous_valid_until timestamptz,
  rules jsonb not null default '[]'::jsonb,
  ip_allow text[] not null default '{}',
  expires_at timestamptz,
  ttl_seconds bigint not null default 0,
  created_by text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  revoked_at timestamptz,
  last_used_at timestamptz
);
create index tokens_account_idx on authz.tokens (account_id);

-- The revocation feed: every token or account change a broker must hear about, in order.
create table authz.invalidations (
  sequence bigserial primary key,
  kind text not null,
  token_id text,
  account_id text,
  at timestamptz not null default now()
);

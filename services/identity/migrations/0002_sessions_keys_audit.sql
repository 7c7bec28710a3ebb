-- Signing keys (private keys sealed with AES-256-GCM under TOLLGATE_SECRET_KEY), refresh-token
-- families with rotation and reuse detection, login throttle state, and the audit log.
create table identity.signing_keys (
  kid text primary key,
  created_at_ms bigint not null,
  retired_at_ms bigint,
  public_jwk jsonb not null,
  sealed_private_jwk text not null
);

create table identity.refresh_families (
  id text primary key,
  user_id text not null references identity.users (id) on delete cascade,
  account_id text not null,
  created_at_ms bigint not null,
  absolute_expires_at_ms bigint not null,
  revoked_at_ms bigint,
  revoke_reason text
);
create index refresh_families_user_idx on identity.refresh_families (user_id);

create table identity.refresh_tokens (
  token_hash text primary key,
  family_id text not null references identity.refresh_families (id) on delete cascade,
  account_id text not null,
  issued_at_ms bigint not null,
  expires_at_ms bigint not null,
  used_at_ms bigint
);

create table identity.login_attempts (
  key text primary key,
  failures integer not null,
  last_failure_at_ms bigint not null,
  locked_until_ms bigint
);

create table identity.audit_events (
  id text primary key,
  kind text not null,
  at timestamptz not null,
  outcome text not null,
  actor_user_id text,
  account_id text,
  ip text,
  subject text,
  reason text,
  details jsonb not null default '{}'::jsonb
);
create index audit_events_account_at_idx on identity.audit_events (account_id, at desc);

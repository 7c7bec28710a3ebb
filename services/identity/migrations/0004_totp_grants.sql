-- TOTP enrollment (the secret sealed with AES-256-GCM; recovery codes hashed) and dataset-level
-- grants: a restricted resource is seen only by the users granted on it.
create table identity.totp_enrollments (
  user_id text primary key references identity.users (id) on delete cascade,
  status text not null check (status in ('pending', 'active')),
  sealed_secret text not null,
  created_at_ms bigint not null,
  confirmed_at_ms bigint,
  last_used_step bigint,
  recovery_code_hashes jsonb not null default '[]'::jsonb
);

create table identity.resources (
  account_id text not null references identity.accounts (id),
  resource_id text not null,
  restricted boolean not null default false,
  primary key (account_id, resource_id)
);

create table identity.resource_grants (
  account_id text not null,
  resource_id text not null,
  user_id text not null references identity.users (id) on delete cascade,
  permission text not null check (permission in ('read', 'write', 'admin')),
  primary key (account_id, resource_id, user_id)
);

-- The account tree (depth <= 8, enforced by the service) and users with a role per account.
create table identity.accounts (
  id text primary key,
  name text not null,
  parent_id text references identity.accounts (id),
  depth integer not null check (depth between 1 and 8),
  state text not null default 'active' check (state in ('active', 'suspended')),
  require_totp boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index accounts_parent_idx on identity.accounts (parent_id);

create table identity.users (
  id text primary key,
  username text not null,
  -- Usernames are unique case-insensitively.
  username_key text not null unique,
  password_hash text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table identity.memberships (
  user_id text not null references identity.users (id) on delete cascade,
  account_id text not null references identity.accounts (id),
  role text not null check (role in ('owner', 'admin', 'member', 'viewer')),
  created_at timestamptz not null default now(),
  primary key (user_id, account_id)
);
create index memberships_account_idx on identity.memberships (account_id);

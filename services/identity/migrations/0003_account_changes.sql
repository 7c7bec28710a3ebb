-- The account change feed other services follow (WatchAccounts): suspensions carry every account
-- of the subtree they affect.
create table identity.account_changes (
  sequence bigserial primary key,
  kind text not null check (kind in ('created', 'renamed', 'suspended', 'resumed', 'policy_changed')),
  account_id text not null,
  affected_account_ids text[] not null default '{}',
  at timestamptz not null default now()
);

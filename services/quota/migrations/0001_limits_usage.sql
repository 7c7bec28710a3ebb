-- Limits attach to an account and apply to its subtree; value -1 inherits the parent's.
create table quota.limits (
  account_id text not null,
  metric text not null,
  kind text not null check (kind in ('rate', 'volume', 'concurrency', 'count')),
  value bigint not null check (value >= -1),
  period text check (period in ('second', 'minute', 'day', 'month')),
  burst bigint,
  shadow boolean not null default false,
  updated_at timestamptz not null default now(),
  primary key (account_id, metric, kind)
);

-- Per-minute usage rollups (own usage and subtree totals), written in batches.
create table quota.usage_minute (
  account_id text not null,
  metric text not null,
  minute timestamptz not null,
  own bigint not null default 0,
  subtree bigint not null default 0,
  primary key (account_id, metric, minute)
);

-- Volume counters per calendar window survive restarts.
create table quota.volume_counters (
  account_id text not null,
  metric text not null,
  window_start timestamptz not null,
  used bigint not null default 0,
  primary key (account_id, metric, window_start)
);

-- Idempotency of usage batches from edges.
create table quota.applied_batches (
  batch_id text primary key,
  edge_id text not null,
  applied_at timestamptz not null default now()
);

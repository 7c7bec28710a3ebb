-- Identity as an OAuth 2.0 / OpenID Connect provider (oidc-provider).
-- oauth_payloads holds every short-lived artefact of the provider (sessions, interactions, grants,
-- authorization/device codes, opaque access and refresh tokens) keyed by (model, id); expiry is
-- enforced on read, and consumed_at marks a spent code or rotated refresh token (reuse detection).
create table identity.oauth_payloads (
  model text not null,
  id text not null,
  payload jsonb not null,
  grant_id text,
  uid text,
  user_code text,
  expires_at timestamptz,
  consumed_at timestamptz,
  primary key (model, id)
);
create index oauth_payloads_grant_id on identity.oauth_payloads (grant_id) where grant_id is not null;
create unique index oauth_payloads_uid on identity.oauth_payloads (model, uid) where uid is not null;
create unique index oauth_payloads_user_code on identity.oauth_payloads (model, user_code) where user_code is not null;
create index oauth_payloads_expires_at on identity.oauth_payloads (expires_at) where expires_at is not null;

-- Registered OAuth clients, owned by an account. The secret is stored only as its SHA-256 (a
-- 32-byte random secret needs no slow hash); client_type fixes the grants the client may use.
create table identity.oauth_clients (
  id text primary key,
  account_id text not null references identity.accounts (id),
  name text not null,
  client_type text not null check (client_type in ('web', 'spa', 'native', 'service', 'device')),
  secret_hash text,
  redirect_uris jsonb not null default '[]'::jsonb,
  post_logout_redirect_uris jsonb not null default '[]'::jsonb,
  scopes jsonb not null default '[]'::jsonb,
  acl_rules jsonb,
  -- The authz acl token that carries acl_rules for the client's access tokens (null: unbound).
  acl_token_id text,
  first_party boolean not null default false,
  -- EdDSA, or ES256 for relying parties whose libraries cannot verify Ed25519 signatures.
  id_token_alg text not null default 'EdDSA' check (id_token_alg in ('EdDSA', 'ES256')),
  disabled boolean not null default false,
  created_at_ms bigint not null,
  updated_at_ms bigint not null
);
create index oauth_clients_account on identity.oauth_clients (account_id);

-- Single sign-on from an account's upstream OpenID Connect or SAML 2.0 provider: users signing in
-- through it are linked by (connection, upstream subject) and created on first sign-in.
create table identity.sso_connections (
  id text primary key,
  account_id text not null references identity.accounts (id),
  kind text not null check (kind in ('oidc', 'saml')),
  name text not null,
  -- OIDC: the issuer URL; SAML: the IdP's entity ID (the Issuer of its responses).
  issuer text not null,
  -- OIDC only.
  client_id text,
  -- OIDC only: secret-box sealed (AES-256-GCM under TOLLGATE_SECRET_KEY), associated data sso-connection:<id>
  sealed_client_secret text,
  -- SAML only: the IdP's single sign-on URL (HTTP-Redirect binding) and its signing certificate (PEM).
  saml_entry_point text,
  saml_idp_cert text,
  default_role text not null check (default_role in ('admin', 'member', 'viewer')),
  created_at_ms bigint not null
);
create index sso_connections_account on identity.sso_connections (account_id);

create table identity.sso_links (
  connection_id text not null references identity.sso_connections (id) on delete cascade,
  upstream_subject text not null,
  user_id text not null references identity.users (id) on delete cascade,
  created_at_ms bigint not null,
  primary key (connection_id, upstream_subject)
);

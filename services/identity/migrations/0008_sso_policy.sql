-- SSO policy (issue 16): who may sign in through a connection, linking by verified email, and an
-- account that requires SSO of its members.

-- 'invited': only existing members of the account (linked by (connection, subject) or by a
-- verified email on first sign-in); 'jit': a new user is created with default_role.
alter table identity.sso_connections add column provisioning text not null default 'invited' check (provisioning in ('invited', 'jit'));

-- An optional email per user (set on CreateUser); SSO links a first sign-in by it, case-insensitively.
alter table identity.users add column email text;
create index users_email_idx on identity.users (lower(email));

-- Members of the account (and its subtree) may not sign in with a password.
alter table identity.accounts add column require_sso boolean not null default false;

-- One upstream subject per user and connection: a verified email may not re-link a linked user.
create unique index sso_links_user_idx on identity.sso_links (connection_id, user_id);

-- Administrative actions of every service land in this one log (RecordAuditEvents): who did it
-- as a kind + subject (a token is named by its id, never its secret), the request id of the call,
-- and the service that recorded it. Adding columns touches no row, so the append-only triggers
-- of 0005 stand; events written before this migration have no actor kind and source identity.
alter table identity.audit_events add column actor_kind text;
alter table identity.audit_events add column actor_subject text;
alter table identity.audit_events add column request_id text;
alter table identity.audit_events add column source text not null default 'identity';
create index audit_events_account_kind_at_idx on identity.audit_events (account_id, kind, at desc);

-- The audit log is append-only: rows are never updated or deleted, whoever asks (the service has
-- no code path that would; this makes a bug or a stray UPDATE fail loudly instead). Listing filters
-- by kind and by time across a subtree's accounts.
create function identity.audit_events_append_only() returns trigger language plpgsql as $fn$
begin
  raise exception 'identity.audit_events is append-only (% refused)', tg_op;
end
$fn$;
create trigger audit_events_no_update_delete before update or delete on identity.audit_events
  for each row execute function identity.audit_events_append_only();
create trigger audit_events_no_truncate before truncate on identity.audit_events
  for each statement execute function identity.audit_events_append_only();
create index audit_events_at_idx on identity.audit_events (at desc, id desc);

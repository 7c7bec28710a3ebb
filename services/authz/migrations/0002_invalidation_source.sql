-- Events that mirror another service's feed (identity's account changes) carry the source event's
-- key, so that every authz replica may append it and only the first one counts.
alter table authz.invalidations add column source_key text;
create unique index invalidations_source_key_idx on authz.invalidations (source_key) where source_key is not null;

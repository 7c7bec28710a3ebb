alter table dbtest.widgets add column size integer not null default 0;
create index widgets_name_idx on dbtest.widgets (name);

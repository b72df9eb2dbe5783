-- The operator's settings that reach running athlete workflows (PUT /admin/settings): one row per setting that
-- was ever changed; a setting without a row, or with a null value, takes the environment's value
-- (BACKFILL_INTERVAL, FOCUS_STALE_AFTER; `paused` false). Every change takes a new revision from the sequence, so
-- max(revision) is the settings version the workflows compare (search attribute SettingsVersion).
create sequence settings_revision;

create table settings (
  name       text primary key,
  value      jsonb,
  revision   bigint not null default nextval('settings_revision'),
  updated_at timestamptz not null default now()
);

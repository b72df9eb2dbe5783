-- Issue 13: every change announced on the athlete_changes NOTIFY channel is also written here, with a durable id
-- that increases in commit order (publishChange takes a transaction-scoped advisory lock before drawing it, so a
-- change not yet visible to a reader always gets a larger id than every change the reader has seen). Clients
-- resume from the last id they saw (SSE Last-Event-ID, GET /changes?after=). Rows older than CHANGE_LOG_RETENTION
-- are pruned in batches; pruned_through remembers the largest id pruned, so a client whose cursor is older learns
-- that it missed changes and must refetch (event: reset) instead of silently skipping them.
create table change_log (
  id          bigserial primary key,
  athlete_id  bigint not null,
  kind        text not null,
  payload     jsonb not null,
  created_at  timestamptz not null default clock_timestamp()
);
create index change_log_athlete on change_log (athlete_id, id);
create index change_log_created on change_log (created_at);

create table change_log_horizon (
  singleton      boolean primary key default true check (singleton),
  pruned_through bigint not null default 0
);
insert into change_log_horizon default values;

-- Issue 13: range re-sync (POST /athletes/:id/resync). A re-sync lists a window of Strava page by page; each
-- page's ids are recorded here under the re-sync's id, so after the last page the activities of the window that
-- Strava no longer returned can be removed, also when the re-sync was resumed on another worker after a crash.
-- started_at (the database's clock) keeps a row written after the re-sync began (a webhook's fetch) from being
-- taken for one Strava stopped returning. Rows go when the re-sync finishes.
create table range_resyncs (
  id          text primary key,
  athlete_id  bigint not null references athletes (id) on delete cascade,
  started_at  timestamptz not null default now()
);

create table range_resync_seen (
  resync_id   text not null references range_resyncs (id) on delete cascade,
  activity_id bigint not null,
  primary key (resync_id, activity_id)
);

-- A range re-sync's pages and its removal pass are runs of the sync history (migration 009) too: trigger resync
-- (its changes count as repairs), activities resync_page and finish_resync.
alter table sync_runs drop constraint sync_runs_activity_check;
alter table sync_runs add constraint sync_runs_activity_check
  check (activity in ('sync_window', 'import_page', 'fetch_activity', 'remove_activity', 'resync_page', 'finish_resync'));
alter table sync_runs drop constraint sync_runs_trigger_check;
alter table sync_runs add constraint sync_runs_trigger_check
  check (trigger in ('webhook', 'backfill', 'focus', 'manual', 'import_page', 'catch_up', 'burst', 'resync'));

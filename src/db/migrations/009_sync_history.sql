-- The sync history (issue 12): the background sync log and the source of the health numbers. Ids, counts and
-- times only. No foreign key to athletes: the history of a purged athlete stays until retention removes it
-- (SYNC_HISTORY_RETENTION), and recording a run must never fail because of the athlete's row.

-- One row per attempt of a Strava activity (sync_window, import_page, fetch_activity, remove_activity).
-- will_retry marks an attempt Temporal runs again (a 5xx before the last attempt): the rates count only the
-- attempts that settled a run (will_retry = false).
create table sync_runs (
  id                bigserial primary key,
  athlete_id        bigint not null,
  activity          text not null check (activity in ('sync_window', 'import_page', 'fetch_activity', 'remove_activity')),
  trigger           text not null
                    check (trigger in ('webhook', 'backfill', 'focus', 'manual', 'import_page', 'catch_up', 'burst')),
  outcome           text not null check (outcome in ('ok', 'failed', 'rate_limited', 'skipped')),
  failure_type      text,
  attempt           integer not null default 1,
  will_retry        boolean not null default false,
  requests          integer not null default 0,
  added             integer not null default 0,
  updated           integer not null default 0,
  deleted           integer not null default 0,
  -- Changes of the kinds a webhook announces (an activity added, its name, sport type or privacy changed, or
  -- removed) that this run wrote: by a webhook-triggered run they were delivered, by a list they were repaired.
  changes           integer not null default 0,
  started_at        timestamptz not null,
  duration_ms       integer not null,
  -- Backfills: when the backfill was due (the workflow's nextBackfillAt).
  due_at            timestamptz,
  -- Webhook-triggered runs that wrote a change: Strava's event_time -> row committed, webhook receipt -> row
  -- committed (null when the signal carried no receipt time).
  event_to_row_ms   bigint,
  receipt_to_row_ms bigint,
  check ((outcome in ('failed', 'rate_limited')) = (failure_type is not null)),
  check (due_at is null or trigger = 'backfill')
);
-- Time windows and retention (the unfiltered listing, newest first, walks the primary key).
create index sync_runs_started on sync_runs (started_at);
-- One athlete's runs, newest first.
create index sync_runs_athlete on sync_runs (athlete_id, id desc);
-- The failures view: runs that did not end ok, newest first.
create index sync_runs_unsuccessful on sync_runs (outcome, id desc) where outcome <> 'ok';
-- Backfills by due time (the completion rate), and one backfill's attempts (due_at = x and athlete_id = y).
create index sync_runs_backfill_due on sync_runs (due_at, athlete_id) where due_at is not null;

-- Every backfill the workflows planned: the denominator of the completion rate, so a backfill that never ran
-- (no worker, a stuck workflow) counts as late instead of being invisible. A new plan replaces the athlete's
-- plans that are not yet due.
create table backfill_plans (
  athlete_id bigint not null,
  due_at     timestamptz not null,
  planned_at timestamptz not null default now(),
  primary key (athlete_id, due_at)
);
create index backfill_plans_due on backfill_plans (due_at);

-- Every token refresh the vault sent to Strava, with how it ended. error_kind is the Strava error kind
-- (src/strava/errors.ts), http_status Strava's status when it answered.
create table token_refreshes (
  id          bigserial primary key,
  athlete_id  bigint not null,
  outcome     text not null check (outcome in ('succeeded', 'refused', 'network_failed')),
  error_kind  text,
  http_status smallint,
  at          timestamptz not null default now(),
  duration_ms integer not null,
  check ((outcome = 'succeeded') = (error_kind is null))
);
create index token_refreshes_at on token_refreshes (at);

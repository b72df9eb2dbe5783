-- What the operator's side needs beyond the sync history (issue 12).

-- The last look at Strava's push subscription list, shared by every API instance: the periodic check and the
-- management page both read it first and only ask Strava when it is older than they accept, so N instances
-- still make about one request per check interval. One row, like webhook_subscription.
create table webhook_subscription_check (
  singleton       boolean primary key default true check (singleton),
  -- The last attempt, successful or not (a failed attempt is not retried before the cache age passes either).
  checked_at      timestamptz not null,
  -- The last answer Strava gave; the columns below describe it.
  answered_at     timestamptz,
  -- null: Strava listed no subscription for this application.
  subscription_id bigint,
  callback_url    text,
  -- Why the last attempt got no answer (null when it got one).
  error           text
);

-- The athlete's name as Strava gave it at connect, for the management page (rendered as text: it is
-- attacker-controlled). Null for athletes connected before this column existed until they reconnect.
alter table athletes add column name text;

-- Batch syncs (POST /admin/sync): in PostgreSQL rather than in the memory of the API process that accepted
-- the request, because several API instances answer behind one address (docker-compose runs two), so the
-- poll may reach another instance; and an instance that stops mid-batch leaves the rest to be adopted.
create table sync_batches (
  id           uuid primary key,
  created_at   timestamptz not null default now(),
  mode         text not null check (mode in ('quick', 'full')),
  options      jsonb not null,
  finished_at  timestamptz,
  -- The instance running the batch renews this; a batch whose runner stopped renewing is adopted by the next
  -- instance asked about it.
  runner       text not null,
  heartbeat_at timestamptz not null default now()
);
create index sync_batches_created on sync_batches (created_at);

create table sync_batch_athletes (
  batch_id         uuid not null references sync_batches (id) on delete cascade,
  athlete_id       bigint not null,
  -- queued -> started (the workflow accepted the sync; sync_id set) -> succeeded | failed; or skipped at once.
  status           text not null check (status in ('queued', 'started', 'succeeded', 'failed', 'skipped')),
  -- skipped: why (revoked, synced_recently, ...); failed: the failure type (RateLimited, NotAccepted, ...).
  reason           text,
  message          text,
  sync_id          text,
  added            integer,
  updated          integer,
  deleted          integer,
  requests         integer,
  tokens_refreshed integer,
  duration_ms      integer,
  -- Position in the batch: the stalest athletes first.
  position         integer not null,
  primary key (batch_id, athlete_id)
);
create index sync_batch_athletes_open on sync_batch_athletes (batch_id, position) where status in ('queued', 'started');

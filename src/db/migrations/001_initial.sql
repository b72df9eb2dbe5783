-- Athletes who connected through OAuth. id is the Strava athlete id.
create table athletes (
  id              bigint primary key,
  scopes          text[] not null default '{}',
  state           text not null default 'importing'
                  check (state in ('importing', 'idle', 'syncing', 'rate_limited', 'needs_reauth', 'paused', 'revoked')),
  connected_at    timestamptz not null default now(),
  revoked_at      timestamptz,
  last_sync_at    timestamptz,
  last_backfill_at timestamptz,
  updated_at      timestamptz not null default now()
);
create index athletes_state on athletes (state);

-- OAuth tokens, AES-256-GCM encrypted; key_id names the key that encrypted both values.
create table tokens (
  athlete_id        bigint primary key references athletes (id) on delete cascade,
  access_token_enc  bytea not null,
  refresh_token_enc bytea not null,
  expires_at        timestamptz not null,
  key_id            text not null,
  refreshed_at      timestamptz,
  updated_at        timestamptz not null default now()
);

-- Synced activities: typed columns for what apps query, the full Strava JSON in raw.
-- detail_level: 2 = summary from a list page, 3 = DetailedActivity from GET /activities/{id}.
create table activities (
  id                   bigint primary key,
  athlete_id           bigint not null references athletes (id) on delete cascade,
  name                 text not null,
  sport_type           text not null,
  start_date           timestamptz not null,
  start_date_local     timestamp,
  timezone             text,
  distance             double precision not null default 0,
  moving_time          integer not null default 0,
  elapsed_time         integer not null default 0,
  total_elevation_gain double precision not null default 0,
  private              boolean not null default false,
  visibility           text,
  detail_level         smallint not null default 2,
  raw                  jsonb not null,
  synced_at            timestamptz not null default now()
);
create index activities_athlete_start on activities (athlete_id, start_date desc, id desc);

-- The webhook inbox: every received event, exactly once per Strava event identity.
create table webhook_events (
  id              bigserial primary key,
  object_type     text not null,
  object_id       bigint not null,
  aspect_type     text not null,
  owner_id        bigint not null,
  subscription_id bigint not null,
  event_time      bigint not null,
  updates         jsonb not null default '{}',
  received_at     timestamptz not null default now(),
  forwarded_at    timestamptz,
  outcome         text not null default 'pending' check (outcome in ('pending', 'forwarded', 'ignored')),
  ignore_reason   text,
  forward_attempts integer not null default 0,
  unique (object_type, object_id, aspect_type, event_time, owner_id)
);
create index webhook_events_pending on webhook_events (id) where outcome = 'pending';
create index webhook_events_owner on webhook_events (owner_id, received_at desc);

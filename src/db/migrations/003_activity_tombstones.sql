-- Deletes the sync has applied, one row per activity. An observation of an activity (a fetch or a list page)
-- made at or before deleted_at never brings it back: a delete is not undone by an older create/update.
-- Only an observation after the delete (Strava's truth, e.g. an activity made visible again) clears the row.
create table activity_tombstones (
  activity_id bigint primary key,
  athlete_id  bigint not null references athletes (id) on delete cascade,
  deleted_at  timestamptz not null,
  recorded_at timestamptz not null default now()
);
create index activity_tombstones_athlete on activity_tombstones (athlete_id);

-- The application's own Strava push subscription (Strava allows one per application). POST /admin/subscription
-- and `strava-sync subscription create` store it here; the webhook receiver compares each event's
-- subscription_id with it. The boolean primary key pins the table to a single row.
create table webhook_subscription (
  singleton       boolean primary key default true check (singleton),
  subscription_id bigint not null,
  callback_url    text not null,
  created_at      timestamptz not null default now()
);

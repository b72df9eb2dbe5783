-- The application-wide Strava rate budget, shared by every worker process (src/strava/rate-governor.ts).
-- One row per UTC day. It carries the day's count and the CURRENT 15-minute window's count: windows within a
-- day are sequential, so a single row lets acquire check and reserve both in one atomic single-row upsert.
-- Times are epoch milliseconds (UTC-aligned by construction). Limits are learned from X-ReadRateLimit-* headers.
-- UNLOGGED: the counts are soft state (Strava's usage headers correct them upward on the next response), so a
-- commit need not wait for a WAL flush; that keeps acquire() well under 2 ms. After a crash the table is empty
-- and the first responses' headers restore the counts.
create unlogged table strava_rate_budget (
  day_start        bigint primary key,            -- epoch ms of 00:00 UTC
  day_limit        integer not null,
  day_reserved     integer not null default 0,    -- reservations, corrected upward to Strava's reported usage
  window_start     bigint not null,               -- epoch ms of the current window (:00/:15/:30/:45 UTC)
  window_limit     integer not null,
  window_reserved  integer not null default 0,
  day_realtime     integer not null default 0,    -- per-priority reservations today, for metrics
  day_interactive  integer not null default 0,
  day_background   integer not null default 0,
  updated_at       timestamptz not null default now()
);

-- Refreshes rotate the refresh token; refresh_count lets operators (and tests) see how often it happened.
alter table tokens add column refresh_count integer not null default 0;

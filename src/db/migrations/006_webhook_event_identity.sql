-- An event's identity includes what changed: two different changes to one activity within the same second (a
-- privacy flip to "Only You" and straight back, a rename then a type change) share object, aspect and
-- event_time, and only `updates` tells them apart. Keyed without it, the second change was answered
-- "duplicate" and never forwarded, leaving the activity stale until the next backfill. Strava's retries repeat
-- the payload exactly, so they still collide. Titles are stored redacted, matching the workflow's dedupe key
-- (which names changed fields, not the new title). Hashed: `updates` may hold up to 16 KB, beyond a btree entry.
alter table webhook_events drop constraint webhook_events_object_type_object_id_aspect_type_event_time_key;
create unique index webhook_events_identity
  on webhook_events (object_type, object_id, aspect_type, event_time, owner_id, md5(updates::text));

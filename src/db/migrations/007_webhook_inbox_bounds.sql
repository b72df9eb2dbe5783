-- Webhook events are unsigned: nothing an outsider sends may influence a genuine event or grow storage without
-- bound (issue 10).
--
-- applied_event_time: the event time the workflow receives, clamped at receipt to the server's clock (an event
-- "from the future" counts as now). event_time stays as sent, so Strava's byte-identical retries still collide.
alter table webhook_events add column applied_event_time bigint;

-- Ignored events (foreign subscription, athlete not connected, ...) are a diagnostic sample only: each takes one of
-- a fixed number of slots (slot = nextval % size, size set by the receiver; 100), replacing the slot's previous
-- row, so however many fakes arrive the table holds at most that many ignored rows.
alter table webhook_events add column ignored_slot integer;
create sequence webhook_events_ignored_slot as bigint minvalue 0 start with 0;

-- Rows ignored before this migration: keep the newest 100 as the first sample, oldest in slot 0.
delete from webhook_events
where outcome = 'ignored'
  and id not in (select id from webhook_events where outcome = 'ignored' order by id desc limit 100);
update webhook_events w set ignored_slot = numbered.slot
from (select id, (row_number() over (order by id) - 1)::int as slot from webhook_events where outcome = 'ignored') numbered
where w.id = numbered.id;
select setval('webhook_events_ignored_slot', (select count(*) from webhook_events where outcome = 'ignored'), false);
alter table webhook_events add constraint webhook_events_ignored_slot_set
  check ((outcome = 'ignored') = (ignored_slot is not null));
create unique index webhook_events_ignored_slot_key on webhook_events (ignored_slot) where outcome = 'ignored';

-- Duplicate detection (migration 006) over the events that will be forwarded only: an ignored fake must never
-- turn the genuine event into a "duplicate". Nor may an event dated after its own receipt (which no genuine event
-- is, beyond clock skew): pre-sent fakes for the coming seconds would otherwise pre-empt Strava's real event.
-- Outcomes move pending -> forwarded only, so a row never enters or leaves this index after its insert.
drop index webhook_events_identity;
create unique index webhook_events_identity
  on webhook_events (object_type, object_id, aspect_type, event_time, owner_id, md5(updates::text))
  where outcome <> 'ignored' and (applied_event_time is null or event_time <= applied_event_time);

-- The receiver bounds each athlete's pending backlog; this keeps that count a short index range.
create index webhook_events_owner_pending on webhook_events (owner_id) where outcome = 'pending';

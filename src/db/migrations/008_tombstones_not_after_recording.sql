-- A delete's event_time came from an unsigned webhook and was stored as is: a forged future time (say 2126)
-- made the tombstone outrank every later observation, hiding the activity for good. A delete cannot have
-- happened after it was recorded, so such tombstones are brought back to their recording time; the code now
-- clamps on write (least(..., now())) and reads least(deleted_at, recorded_at).
update activity_tombstones set deleted_at = recorded_at where deleted_at > recorded_at;

alter table activity_tombstones
  add constraint activity_tombstones_not_after_recording check (deleted_at <= recorded_at);

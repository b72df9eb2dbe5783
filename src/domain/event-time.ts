/**
 * Event times come from unsigned webhooks: anyone can send any number. These pure helpers bound them so that a
 * forged time can neither break date arithmetic nor outrank Strava's own later observations. Shared by the
 * workflow (clamped to workflow time) and the activities (clamped to the activity's clock).
 */

/** event_time (epoch s) bounded to [0, nowMs]; anything not a finite number is treated as "now". */
export function clampEventTime(eventTime: number, nowMs: number): number {
  const nowS = Math.floor(nowMs / 1000);
  if (typeof eventTime !== 'number' || !Number.isFinite(eventTime)) return nowS;
  return Math.max(0, Math.min(Math.floor(eventTime), nowS));
}

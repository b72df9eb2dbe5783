import { describe, expect, it } from 'vitest';
import { upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { DETAIL_LEVEL, removeActivities, tombstoneOf, upsertActivities } from '../../src/db/repositories/activities.js';
import type { SummaryActivity } from '../../src/domain/strava-objects.js';
import { useTestDatabase } from '../helpers/database.js';

/**
 * A forged event for athlete A that names athlete B's activity id (B's activity not stored yet) must not hide it:
 * a tombstone recorded under A never counts for B, neither in the fetch's staleness check nor in B's upserts.
 */
const db = useTestDatabase();

const activity = (id: number, athleteId: number): SummaryActivity => ({
  id,
  athlete: { id: athleteId },
  name: 'Morning Run',
  sport_type: 'Run',
  start_date: '2026-11-01T07:00:00Z',
  distance: 5000,
  moving_time: 1500,
  elapsed_time: 1600,
  total_elevation_gain: 10,
  private: false,
});

describe('another athlete\'s activity id in a forged event', () => {
  it('leaves no tombstone that hides the real owner\'s activity', async () => {
    const [forger, owner, activityId] = [7_100_001, 7_100_002, 71_000_000_001];
    await upsertConnectedAthlete(db.sql, forger, ['read', 'activity:read']);
    await upsertConnectedAthlete(db.sql, owner, ['read', 'activity:read']);
    // The forger's workflow gives up on the id (404 for it) and records the delete under the forger.
    await removeActivities(db.sql, forger, [activityId], new Date('2026-11-30T12:00:00Z'));
    expect(await tombstoneOf(db.sql, forger, activityId)).toBeDefined();

    // The owner's create (observed before that tombstone's time) is neither stale nor skipped.
    expect(await tombstoneOf(db.sql, owner, activityId)).toBeUndefined();
    const upserted = await upsertActivities(db.sql, owner, [activity(activityId, owner)], {
      detailLevel: DETAIL_LEVEL.detail,
      observedAt: new Date('2026-11-30T11:00:00Z'),
    });
    expect(upserted.added).toEqual([activityId]);
    expect(upserted.skipped).toEqual([]);
  });
});

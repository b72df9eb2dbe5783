import { describe, expect, it } from 'vitest';
import { DETAIL_LEVEL, upsertActivities } from '../../src/db/repositories/activities.js';
import { upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import type { SummaryActivity } from '../../src/domain/strava-objects.js';
import { useTestDatabase } from '../helpers/database.js';

const db = useTestDatabase();
const ATHLETE = 9301;

function summary(id: number, fields: Partial<SummaryActivity> = {}): SummaryActivity {
  return {
    id,
    athlete: { id: ATHLETE },
    name: `Ride ${id}`,
    sport_type: 'Ride',
    type: 'Ride',
    start_date: '2030-02-01T08:00:00Z',
    start_date_local: '2030-02-01T08:00:00Z',
    timezone: '(GMT+00:00) Europe/London',
    distance: 1000,
    moving_time: 600,
    elapsed_time: 600,
    total_elevation_gain: 0,
    visibility: 'everyone',
    private: false,
    ...fields,
  } as SummaryActivity;
}

/**
 * The repairs a list finds feed the webhook delivery rate and adaptive backfill: only changes Strava announces by
 * webhook (title, type, private) may count, or a change no webhook exists for makes the webhooks look lossy.
 */
describe('changes a webhook would have announced', () => {
  it('counts title, type and private changes, not a visibility change between everyone and followers', async () => {
    await upsertConnectedAthlete(db.sql, ATHLETE, ['read', 'activity:read_all']);
    const upsert = (activities: SummaryActivity[]) =>
      upsertActivities(db.sql, ATHLETE, activities, { detailLevel: DETAIL_LEVEL.summary, observedAt: new Date() });
    await upsert([1, 2, 3, 4].map((id) => summary(id)));

    const outcome = await upsert([
      summary(1, { name: 'Renamed' }),
      summary(2, { sport_type: 'Run', type: 'Run' }),
      summary(3, { private: true, visibility: 'only_me' }),
      summary(4, { visibility: 'followers_only' }),
    ]);
    expect(outcome.updated.sort()).toEqual([1, 2, 3, 4]);
    expect(outcome.webhookFieldsChanged.sort()).toEqual([1, 2, 3]);
    const [row] = await db.sql<{ visibility: string }[]>`select visibility from activities where id = 4`;
    expect(row!.visibility).toBe('followers_only');
  });
});

import { describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities/index.js';
import type { AthleteStravaCalls } from '../../src/activities/index.js';
import { upsertActivities, DETAIL_LEVEL } from '../../src/db/repositories/activities.js';
import { setAthleteState, upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { recordSyncRun } from '../../src/db/repositories/sync-runs.js';
import { recordSubscriptionAnswer } from '../../src/db/repositories/subscription-health.js';
import { webhookReliability } from '../../src/workflows/backfill-plan.js';
import { ACTIVE_MIN_UPLOADS } from '../../src/domain/fleet-load.js';
import { createRateGovernor, learnedDailyBackgroundBudget } from '../../src/strava/rate-governor.js';
import type { SummaryActivity } from '../../src/domain/strava-objects.js';
import { useTestDatabase } from '../helpers/database.js';

const db = useTestDatabase();
const DAY = 86_400_000;
const NOW = Date.parse('2030-03-01T12:00:00Z');

/** fleetLoad never calls Strava: any call is a bug. */
const noStrava = new Proxy({} as AthleteStravaCalls, {
  get: () => () => Promise.reject(new Error('fleetLoad must not call Strava')),
});

function summary(athleteId: number, id: number, startedAt: number): SummaryActivity {
  return {
    id,
    athlete: { id: athleteId },
    name: `Ride ${id}`,
    sport_type: 'Ride',
    type: 'Ride',
    start_date: new Date(startedAt).toISOString(),
    start_date_local: new Date(startedAt).toISOString(),
    timezone: '(GMT+00:00) Europe/London',
    distance: 1000,
    moving_time: 600,
    elapsed_time: 600,
    total_elevation_gain: 0,
    visibility: 'everyone',
    private: false,
  } as SummaryActivity;
}

/** Connects an athlete whose latest activity started at `startedAt`, with `uploads` of them a day apart (enough to count as active by default). */
async function connectWithActivity(athleteId: number, startedAt: number, uploads = ACTIVE_MIN_UPLOADS): Promise<void> {
  await upsertConnectedAthlete(db.sql, athleteId, ['read', 'activity:read_all']);
  const activities = Array.from({ length: uploads }, (_, i) => summary(athleteId, athleteId * 10 + i, startedAt - i * DAY));
  await upsertActivities(db.sql, athleteId, activities, { detailLevel: DETAIL_LEVEL.summary, observedAt: new Date(NOW) });
}

describe('fleetLoad while the fleet grows', () => {
  it('classes an athlete who connected after the cached snapshot by its own activities, not as dormant', async () => {
    const clock = { now: NOW };
    const activities = createActivities({ sql: db.sql, strava: noStrava, now: () => clock.now, dailyBackgroundBudget: 600 });
    await connectWithActivity(9101, NOW - 2 * DAY);
    const first = await activities.fleetLoad({ athleteId: 9101 });
    expect(first.athletes).toEqual({ active: 1, recent: 0, dormant: 0 });

    // Ten seconds later (inside the snapshot's minute), more athletes have connected.
    clock.now = NOW + 10_000;
    for (const id of [9102, 9103, 9104]) await connectWithActivity(id, NOW - DAY);
    const late = await activities.fleetLoad({ athleteId: 9104 });
    expect(late.athleteClass).toBe('active');
    expect(late.athletes.active).toBe(4);
  });

  it('follows membership exactly within the minute: departures drop out, newcomers are read alone', async () => {
    await db.sql`truncate athletes cascade`;
    const clock = { now: NOW };
    const activities = createActivities({ sql: db.sql, strava: noStrava, now: () => clock.now, dailyBackgroundBudget: 600 });
    for (const id of [9111, 9112, 9113]) await connectWithActivity(id, NOW - DAY, 1);
    expect((await activities.fleetLoad({ athleteId: 9111 })).athletes).toEqual({ active: 0, recent: 3, dormant: 0 });

    clock.now = NOW + 20_000;
    await setAthleteState(db.sql, 9112, 'revoked');
    await connectWithActivity(9114, NOW - DAY);
    // 9111 uploads twice more: active now, but its recency is the full read's, which serves the minute.
    await upsertActivities(db.sql, 9111, [summary(9111, 91119, NOW - 2 * DAY), summary(9111, 91118, NOW - 3 * DAY)], {
      detailLevel: DETAIL_LEVEL.summary,
      observedAt: new Date(NOW),
    });
    const within = await activities.fleetLoad({ athleteId: 9114 });
    expect(within.athleteClass).toBe('active');
    expect(within.athletes).toEqual({ active: 1, recent: 2, dormant: 0 });

    // After the minute the full read sees 9111's uploads too.
    clock.now = NOW + 61_000;
    expect((await activities.fleetLoad({ athleteId: 9111 })).athletes).toEqual({ active: 2, recent: 1, dormant: 0 });
  });
});

describe('activity classes', () => {
  it('counts uploads within 14 days: one or two make an athlete recent, three make it active; none in 90 days, dormant', async () => {
    const activities = createActivities({ sql: db.sql, strava: noStrava, now: () => NOW + 120_000, dailyBackgroundBudget: 600 });
    await connectWithActivity(9201, NOW - DAY, ACTIVE_MIN_UPLOADS - 1);
    await connectWithActivity(9202, NOW - DAY, ACTIVE_MIN_UPLOADS);
    // Three uploads, but two of them older than the window: recent.
    await connectWithActivity(9203, NOW - 13 * DAY, ACTIVE_MIN_UPLOADS);
    await connectWithActivity(9204, NOW - 120 * DAY, 5);
    const classOf = async (athleteId: number) => (await activities.fleetLoad({ athleteId })).athleteClass;
    expect(await classOf(9201)).toBe('recent');
    expect(await classOf(9202)).toBe('active');
    expect(await classOf(9203)).toBe('recent');
    expect(await classOf(9204)).toBe('dormant');
  });
});

describe('the planner budget follows the governor', () => {
  it('uses the daily limit Strava reported, not the configured default', async () => {
    const governor = createRateGovernor({
      sql: db.sql,
      backgroundShare: 0.6,
      interactiveShare: 0.85,
      defaultLimits: { fifteenMinute: 100, daily: 1000 },
      now: () => NOW,
    });
    expect(await learnedDailyBackgroundBudget(governor, 0.6)).toBe(600);
    // A large application: Strava's headers report 60,000 reads a day.
    await governor.observe({ read: { limit: { fifteenMinute: 6000, daily: 60_000 }, usage: { fifteenMinute: 1, daily: 1 } } });
    expect(await learnedDailyBackgroundBudget(governor, 0.6)).toBe(36_000);

    const activities = createActivities({
      sql: db.sql,
      strava: noStrava,
      now: () => NOW,
      dailyBackgroundBudget: () => learnedDailyBackgroundBudget(governor, 0.6),
    });
    await connectWithActivity(9201, NOW - DAY);
    expect((await activities.fleetLoad({ athleteId: 9201 })).dailyBackgroundBudget).toBe(36_000);
  });
});

describe('the evidence adaptive backfill follows', () => {
  it('counts the trailing day of the sync history: changes by webhook against repairs', async () => {
    const run = (trigger: 'webhook' | 'backfill', changes: number, ageMs: number) =>
      recordSyncRun(db.sql, {
        athleteId: 9301,
        activity: trigger === 'webhook' ? 'fetch_activity' : 'sync_window',
        trigger,
        outcome: 'ok',
        failureType: null,
        attempt: 1,
        willRetry: false,
        requests: 1,
        added: changes,
        updated: 0,
        deleted: 0,
        changes,
        startedAt: new Date(Date.now() - ageMs),
        durationMs: 5,
        dueAt: null,
        eventToRowMs: null,
        receiptToRowMs: null,
      });
    await connectWithActivity(9301, NOW - DAY);
    for (let i = 0; i < 30; i++) await run('webhook', 1, 60_000);
    await run('backfill', 12, 60_000);
    // Older than a day: outside the evidence.
    await run('backfill', 500, 2 * DAY);

    const activities = createActivities({ sql: db.sql, strava: noStrava, now: () => NOW + 5 * 60_000, dailyBackgroundBudget: 600 });
    const load = await activities.fleetLoad({ athleteId: 9301 });
    expect(load.evidence).toEqual({ viaWebhook: 30, repairs: 12, subscriptionSilent: false });
    // 12 of 42 changes found only by a backfill: webhooks are unreliable, active athletes are backfilled sooner.
    expect(webhookReliability(load.evidence)).toBe('unreliable');
  });

  it('takes a subscription Strava no longer lists as silent: active athletes are backfilled sooner at once', async () => {
    const activities = createActivities({ sql: db.sql, strava: noStrava, now: () => NOW + 10 * 60_000, dailyBackgroundBudget: 600 });
    await recordSubscriptionAnswer(db.sql, new Date(), null);
    const load = await activities.fleetLoad({ athleteId: 9301 });
    expect(load.evidence?.subscriptionSilent).toBe(true);
    expect(webhookReliability(load.evidence)).toBe('unreliable');
  });
});

import { afterAll, beforeAll, expect, it } from 'vitest';
import { upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { RateBudgetExhaustedError } from '../../src/strava/errors.js';
import { createStravaServices, type StravaServices } from '../../src/strava/services.js';
import { useTestDatabase } from '../helpers/database.js';
import { emulatorConfig } from '../helpers/emulator-config.js';

/**
 * A whole UTC day on the emulator's clock, with Strava's default read limits (100 / 15 min, 1,000 / day):
 * a background backlog (history import) that never runs dry competes with realtime traffic (webhook-driven
 * fetches) arriving every window. The day must end with zero 429s, realtime never refused, and the
 * background backlog still making progress.
 */

const db = useTestDatabase();
const DAY = Date.parse('2030-05-01T00:00:00Z');
const WINDOW = 15 * 60_000;
let emulator: RunningEmulator;
let services: StravaServices;
const athletes: number[] = [];

beforeAll(async () => {
  emulator = await startEmulator({ seed: 7, startTimeMs: DAY + 1_000 });
  const config = emulatorConfig(emulator, db.url);
  services = createStravaServices(config, db.sql, { now: () => emulator.now() });
  for (let i = 0; i < 3; i++) {
    const { id } = await emulator.control.createAthlete({ activities: 20 });
    const issued = await emulator.control.issueTokens(id);
    await upsertConnectedAthlete(db.sql, id, issued.scope.split(','));
    await services.vault.store(id, issued);
    athletes.push(id);
  }
});
afterAll(async () => {
  await emulator?.close();
});

it('a day with a background backlog and realtime traffic ends with zero 429s and no realtime refusal', async () => {
  const { athleteStrava } = services;
  let realtimeSent = 0;
  let backgroundSent = 0;
  let backgroundRefusals = 0;
  const realtimeRefusals: unknown[] = [];
  const realtime = async (n: number) => {
    for (let i = 0; i < n; i++) {
      try {
        await athleteStrava.getAthlete(athletes[i % athletes.length]!, 'realtime');
        realtimeSent++;
      } catch (error) {
        realtimeRefusals.push(error);
      }
    }
  };

  for (let w = 0; w < 96; w++) {
    await emulator.control.setClock(DAY + w * WINDOW + 2_000);
    // Bursty realtime: quiet most windows, a rush every few hours.
    const arrivals = w % 16 === 7 ? 12 : w % 3 === 0 ? 3 : 1;
    await realtime(Math.floor(arrivals / 2));
    // The backlog is always queued: background asks until the governor says wait.
    for (;;) {
      try {
        await athleteStrava.listActivities(athletes[w % athletes.length]!, 'background', { page: 1, perPage: 5 });
        backgroundSent++;
      } catch (error) {
        expect(error).toBeInstanceOf(RateBudgetExhaustedError);
        const waitMs = (error as RateBudgetExhaustedError).waitMs;
        // Never longer than to midnight; never a busy loop.
        expect(waitMs).toBeGreaterThan(0);
        expect(waitMs).toBeLessThanOrEqual(DAY + 86_400_000 - emulator.now() + 1_000);
        backgroundRefusals++;
        break;
      }
    }
    await realtime(arrivals - Math.floor(arrivals / 2));
  }

  const counters = await emulator.control.counters();
  const strava = await emulator.control.rateLimits();
  expect(counters.rateLimited).toBe(0);
  expect(realtimeRefusals).toEqual([]);
  expect(strava.usage.daily.read).toBe(realtimeSent + backgroundSent);
  expect(strava.usage.daily.read).toBeLessThanOrEqual(1000);
  // The backlog progressed all day long, within its 60% pace.
  expect(backgroundSent).toBeGreaterThan(300);
  expect(backgroundSent).toBeLessThanOrEqual(600);
  expect(backgroundRefusals).toBe(96);
  const snapshot = await services.governor.snapshot();
  expect(snapshot.usedByPriority.realtime).toBe(realtimeSent);
  expect(snapshot.usedByPriority.background).toBe(backgroundSent);
  // Tokens expired four times during the day: the vault refreshed them on the emulator's clock.
  const [row] = await db.sql<{ refreshes: number }[]>`select sum(refresh_count)::int as refreshes from tokens`;
  expect(row!.refreshes).toBeGreaterThanOrEqual(athletes.length * 3);
});

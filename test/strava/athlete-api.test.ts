import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { RateBudgetExhaustedError, StravaNotFoundError, StravaRateLimitedError } from '../../src/strava/errors.js';
import { createStravaServices, type StravaServices } from '../../src/strava/services.js';
import { useTestDatabase } from '../helpers/database.js';
import { emulatorConfig } from '../helpers/emulator-config.js';
import { clientFor, countOf } from './helpers.js';

const db = useTestDatabase();
let emulator: RunningEmulator;
let services: StravaServices;
let athleteId: number;
let accessToken: string;

beforeAll(async () => {
  emulator = await startEmulator({ seed: 6, startTimeMs: Date.parse('2030-04-01T06:00:30Z') });
  const config = emulatorConfig(emulator, db.url);
  services = createStravaServices(config, db.sql, { now: () => emulator.now() });
  athleteId = (await emulator.control.createAthlete({ activities: 10 })).id;
  const issued = await emulator.control.issueTokens(athleteId);
  accessToken = issued.accessToken;
  await upsertConnectedAthlete(db.sql, athleteId, issued.scope.split(','));
  await services.vault.store(athleteId, issued);
});
afterAll(async () => {
  await emulator?.close();
});
beforeEach(async () => {
  await db.sql`truncate strava_rate_budget`;
  await emulator.control.setFaults({ rateLimitedUntil: null });
  await emulator.control.advanceClock(15 * 60_000); // a fresh Strava window for every test
});

const apiRequests = async () => {
  const counters = await emulator.control.counters();
  return Object.entries(counters.requests)
    .filter(([endpoint]) => endpoint.includes('/api/v3'))
    .reduce((n, [endpoint]) => n + countOf(counters, endpoint), 0);
};

describe('athlete-level Strava calls', () => {
  it('calls Strava by athlete id, feeding usage headers to the governor', async () => {
    const { athleteStrava, governor } = services;
    expect((await athleteStrava.getAthlete(athleteId, 'realtime')).id).toBe(athleteId);
    const list = await athleteStrava.listActivities(athleteId, 'background', { perPage: 5 });
    expect(list).toHaveLength(5);
    const detailed = await athleteStrava.getActivity(athleteId, 'interactive', list[0]!.id);
    expect(detailed.id).toBe(list[0]!.id);
    await expect(athleteStrava.getActivity(athleteId, 'realtime', 1)).rejects.toBeInstanceOf(StravaNotFoundError);
    const snapshot = await governor.snapshot();
    const strava = await emulator.control.rateLimits();
    expect(snapshot.window.used).toBe(strava.usage.fifteenMinute.read);
    expect(snapshot.window.limit).toBe(strava.limits.read.fifteenMinute);
    expect(snapshot.usedByPriority).toEqual({ realtime: 2, interactive: 1, background: 1 });
  });

  it("corrects the budget upward when someone else uses the app's quota", async () => {
    const other = clientFor(emulator);
    for (let i = 0; i < 30; i++) await other.getAthlete(accessToken); // e.g. a manual script with the same app
    await services.athleteStrava.getAthlete(athleteId, 'realtime');
    expect((await services.governor.snapshot()).window.used).toBe(31);
  });

  it('does not send a call the budget refuses: RateBudgetExhaustedError with the wait', async () => {
    const { athleteStrava } = services;
    for (let i = 0; i < 60; i++) await athleteStrava.getAthlete(athleteId, 'background');
    const before = await apiRequests();
    const error = await athleteStrava.listActivities(athleteId, 'background').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateBudgetExhaustedError);
    const now = emulator.now();
    const boundary = Math.ceil(now / 900_000) * 900_000;
    expect((error as RateBudgetExhaustedError).waitMs).toBeGreaterThan(boundary - now - 2_000);
    expect((error as RateBudgetExhaustedError).waitMs).toBeLessThanOrEqual(boundary - now + 2_000);
    expect(error).toMatchObject({ name: 'RateBudgetExhaustedError', retryable: true });
    expect(await apiRequests()).toBe(before); // nothing sent
    // Realtime still goes.
    expect((await athleteStrava.getAthlete(athleteId, 'realtime')).id).toBe(athleteId);
  });

  it('a 429 Strava answers anyway closes the window for everyone', async () => {
    const { athleteStrava } = services;
    await emulator.control.setFaults({ force429ForMs: 60_000 });
    await expect(athleteStrava.getAthlete(athleteId, 'realtime')).rejects.toBeInstanceOf(StravaRateLimitedError);
    await emulator.control.setFaults({ rateLimitedUntil: null });
    const before = await apiRequests();
    await expect(athleteStrava.getAthlete(athleteId, 'realtime')).rejects.toBeInstanceOf(RateBudgetExhaustedError);
    expect(await apiRequests()).toBe(before);
  });

  it('deauthorize revokes at Strava and is idempotent', async () => {
    const id = (await emulator.control.createAthlete({ activities: 1 })).id;
    const issued = await emulator.control.issueTokens(id);
    await upsertConnectedAthlete(db.sql, id, issued.scope.split(','));
    await services.vault.store(id, issued);
    await services.athleteStrava.deauthorize(id);
    expect((await emulator.control.getAthlete(id)).connected).toBe(false);
    await services.athleteStrava.deauthorize(id); // token already dead: no error
  });
});

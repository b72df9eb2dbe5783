import { describe, expect, it } from 'vitest';
import type { EmulatorActivity } from '../../src/emulator/control-client.js';
import { startEmulator } from '../../src/emulator/index.js';
import { SPORTS } from '../../src/emulator/sports.js';
import { apiGet, startCallbackServer, subscribe, withEmulator } from './helpers.js';

describe('generated data', () => {
  // How long generation takes is measured in bench/emulator (RESULTS.md), not asserted here: a wall-clock bound
  // in a test only measures how busy the machine is.
  it('100,000 activities across 100 athletes generate completely', async () => {
    const emulator = await startEmulator({ athletes: 100, activitiesPerAthlete: 1000 });
    try {
      const athletes = await emulator.control.listAthletes();
      expect(athletes).toHaveLength(100);
      expect(athletes.every((a) => a.activities === 1000)).toBe(true);
      expect(new Set(athletes.map((a) => a.id)).size).toBe(100);
    } finally {
      await emulator.close();
    }
  });

  it('is realistic and coherent: sports, numbers, privacy mix, large ids, history over years', async () => {
    await withEmulator({ seed: 21 }, async (emulator) => {
      const athlete = await emulator.control.createAthlete({ activities: 2000 });
      const all = await emulator.control.groundTruth(athlete.id, { readAll: true });
      expect(all).toHaveLength(2000);
      const known = new Set(SPORTS.map((s) => s.sportType));
      const visibility = { everyone: 0, followers_only: 0, only_me: 0 };
      for (const a of all) {
        expect(known.has(a.sport_type)).toBe(true);
        expect(a.id).toBeGreaterThan(2 ** 31);
        expect(Number.isSafeInteger(a.id)).toBe(true);
        expect(a.private).toBe(a.visibility === 'only_me');
        expect(a.elapsed_time).toBeGreaterThanOrEqual(a.moving_time);
        expect(a.moving_time).toBeGreaterThan(0);
        if (a.distance > 0) {
          expect(Math.abs(a.distance / a.moving_time - (a.average_speed as number))).toBeLessThan(0.01);
          expect(a.max_speed as number).toBeGreaterThan(a.average_speed as number);
        }
        if (a.elev_high !== undefined) expect((a.elev_high as number) - (a.elev_low as number)).toBeLessThanOrEqual(a.total_elevation_gain + 0.1);
        if (a.sport_type === 'Run') expect(a.average_speed as number).toBeLessThan(6);
        if (a.sport_type === 'Yoga' || a.sport_type === 'WeightTraining') expect(a.distance).toBe(0);
        if (a.kilojoules !== undefined) expect(Math.abs((a.kilojoules as number) - ((a.average_watts as number) * a.moving_time) / 1000)).toBeLessThan(0.2);
        expect(Date.parse(a.start_date)).toBeLessThan(emulator.now());
        visibility[a.visibility]++;
      }
      expect(visibility.everyone / 2000).toBeGreaterThan(0.65);
      expect(visibility.only_me / 2000).toBeGreaterThan(0.05);
      expect(visibility.followers_only / 2000).toBeGreaterThan(0.08);
      expect(new Set(all.map((a) => a.sport_type)).size).toBeGreaterThan(8);
      const spanYears = (Date.parse(all[0]!.start_date) - Date.parse(all.at(-1)!.start_date)) / (365 * 86400_000);
      expect(spanYears).toBeGreaterThan(2.5);
      // Newest first, ids increasing with start date within an athlete.
      for (let i = 1; i < all.length; i++) expect(Date.parse(all[i - 1]!.start_date)).toBeGreaterThanOrEqual(Date.parse(all[i]!.start_date));
    });
  });

  it('the same seed gives the same data; another seed different data', async () => {
    const sample = (seed: number) =>
      withEmulator({ seed, athletes: 2, activitiesPerAthlete: 50, startTimeMs: Date.UTC(2025, 0, 1) }, async (emulator) => {
        const athletes = await emulator.control.listAthletes();
        return Promise.all(athletes.map((a) => emulator.control.groundTruth(a.id, { readAll: true })));
      });
    const a = await sample(1);
    expect(await sample(1)).toEqual(a);
    expect(await sample(2)).not.toEqual(a);
  });
});

describe('control API', () => {
  it('reset returns to the start-up state: same athletes, no tokens, subscription, faults or counters', async () => {
    const callback = await startCallbackServer();
    try {
      await withEmulator({ seed: 5, athletes: 2, activitiesPerAthlete: 20 }, async (emulator) => {
        const before = await emulator.control.allGroundTruth({ readAll: true });
        const athlete = (await emulator.control.listAthletes())[0]!;
        const tokens = await emulator.control.issueTokens(athlete.id);
        await subscribe(emulator, callback.url);
        await emulator.control.createActivity(athlete.id);
        await emulator.control.setFaults({ webhookDropRate: 1, appInactive: true });
        await emulator.control.advanceClock(10 * 86400_000);
        await emulator.control.reset();
        expect(await emulator.control.allGroundTruth({ readAll: true })).toEqual(before);
        expect(await emulator.control.subscription()).toBeNull();
        expect((await emulator.control.getFaults()).appInactive).toBe(false);
        expect((await emulator.control.counters()).requests).toEqual({});
        expect(Math.abs((await emulator.control.now()) - Date.now())).toBeLessThan(5000);
        expect((await apiGet(emulator, '/athlete', tokens.accessToken)).status).toBe(401);
      });
    } finally {
      await callback.close();
    }
  });

  it('counters record requests per endpoint and status', async () => {
    await withEmulator({}, async (emulator) => {
      const athlete = await emulator.control.createAthlete({ activities: 3 });
      const { accessToken } = await emulator.control.issueTokens(athlete.id);
      await apiGet(emulator, '/athlete/activities', accessToken);
      await apiGet(emulator, '/activities/1', accessToken);
      await apiGet(emulator, '/activities/2', accessToken);
      expect((await emulator.control.counters()).requests).toEqual({
        'GET /oauth/authorize': { 302: 1 },
        'POST /oauth/token': { 200: 1 },
        'GET /api/v3/athlete/activities': { 200: 1 },
        'GET /api/v3/activities/{id}': { 404: 2 },
      });
    });
  });

  it('validates its input', async () => {
    await withEmulator({}, async (emulator) => {
      const response = await fetch(`${emulator.baseUrl}/_emulator/faults`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ webhookDropRate: 2 }) });
      expect(response.status).toBe(400);
      const athlete = await emulator.control.createAthlete();
      await expect(emulator.control.createActivity(athlete.id, { private: true, visibility: 'everyone' })).rejects.toThrow(/disagree/);
      await expect(emulator.control.createAthlete({ id: athlete.id })).rejects.toThrow(/409/);
      await expect(emulator.control.deleteActivity(1)).rejects.toThrow(/404/);
    });
  });

  it('a created activity honours the fields given', async () => {
    await withEmulator({}, async (emulator) => {
      const athlete = await emulator.control.createAthlete();
      const created: EmulatorActivity = await emulator.control.createActivity(athlete.id, {
        name: 'Track session', sport_type: 'Run', start_date: '2025-05-01T06:00:00Z', distance: 10000, moving_time: 2400, visibility: 'followers_only',
      });
      expect(created).toMatchObject({ name: 'Track session', sport_type: 'Run', type: 'Run', start_date: '2025-05-01T06:00:00Z', distance: 10000, moving_time: 2400, average_speed: 4.167, private: false, visibility: 'followers_only' });
    });
  });
});

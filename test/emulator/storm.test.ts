import { describe, expect, it } from 'vitest';
import { startCallbackServer, subscribe, tokenCall, withEmulator } from './helpers.js';

/**
 * The emulator's chaos tools: the seeded storm of changes, the ground-truth snapshot, the forced-429 accounting
 * and the per-athlete refresh-token rotation counts.
 */

const world = { seed: 5, athletes: 4, activitiesPerAthlete: 30 } as const;

describe('the storm', () => {
  it('is the same sequence of changes for the same seed and world, and another for another seed', async () => {
    const run = (seed: number) =>
      withEmulator(world, async (emulator) => {
        await emulator.control.startStorm({ seed, changes: 120 });
        const { log, ...progress } = await emulator.control.stormLog();
        return { log, progress, snapshot: (await emulator.control.snapshot()).athletes.map((a) => a.activities.length) };
      });
    const [first, again, other] = [await run(1), await run(1), await run(2)];
    expect(first.progress).toMatchObject({ running: false, planned: 120, applied: 120 });
    expect(again.log).toEqual(first.log);
    expect(other.log).not.toEqual(first.log);
    // Every kind happens, privacy flips both ways, some creates are "still processing" at first.
    expect(Object.values(first.progress.byKind).every((n) => n > 0)).toBe(true);
    expect(first.progress.privacy.toOnlyMe).toBeGreaterThan(0);
    expect(first.progress.privacy.fromOnlyMe).toBeGreaterThan(0);
    expect(first.progress.delayedCreates).toBeGreaterThan(0);
    expect(first.log.filter((c) => c.kind === 'create' && c.processingMs !== undefined)).toHaveLength(first.progress.delayedCreates);
  });

  it('applies changes through the store: Strava\'s webhooks go out, and delayed creates 404 at first', async () => {
    const callback = await startCallbackServer();
    try {
      await withEmulator({ ...world, webhookRetryDelayMs: 50 }, async (emulator) => {
        await subscribe(emulator, callback.url);
        const [athlete] = await emulator.control.listAthletes();
        await emulator.control.issueTokens(athlete!.id);
        await emulator.control.startStorm({ seed: 3, changes: 60, athleteIds: [athlete!.id], processingRate: 1, processingMs: [60_000, 60_000], mix: { create: 1, rename: 0, retype: 0, delete: 0, privacy: 0 } });
        const settled = await emulator.control.webhooksSettled(10_000);
        expect(settled.events).toBe(60);
        expect(callback.events.every((e) => e.body.aspect_type === 'create' && e.body.owner_id === athlete!.id)).toBe(true);
        const { log } = await emulator.control.stormLog();
        // Still processing: not in the ground truth yet, counted as such.
        const snapshot = await emulator.control.snapshot();
        const mine = snapshot.athletes.find((a) => a.id === athlete!.id)!;
        expect(mine.processing).toBe(60);
        expect(mine.activities.map((a) => a.id)).not.toContain(log[0]!.activityId);
        await emulator.control.advanceClock(60_000);
        const later = (await emulator.control.snapshot()).athletes.find((a) => a.id === athlete!.id)!;
        expect(later.processing).toBe(0);
        expect(later.activities.map((a) => a.id)).toEqual(expect.arrayContaining(log.map((c) => c.activityId)));
      });
    } finally {
      await callback.close();
    }
  });

  it('runs spread over its duration, and can be stopped', async () => {
    await withEmulator(world, async (emulator) => {
      await emulator.control.startStorm({ seed: 1, changes: 1000, durationMs: 10_000 });
      await new Promise((resolve) => setTimeout(resolve, 500));
      const early = await emulator.control.stormProgress();
      expect(early.running).toBe(true);
      expect(early.applied).toBeGreaterThan(0);
      expect(early.applied).toBeLessThan(500);
      const stopped = await emulator.control.stopStorm();
      expect(stopped).toMatchObject({ running: false });
      const applied = stopped!.applied;
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await emulator.control.stormProgress()).applied).toBe(applied);
    });
  });
});

describe('the ground-truth snapshot', () => {
  it('holds what each athlete\'s grant lets the application see: all, no "Only You", or nothing', async () => {
    await withEmulator(world, async (emulator) => {
      const [readAll, readOnly, revoked, never] = (await emulator.control.listAthletes()).map((a) => a.id) as [number, number, number, number];
      await emulator.control.issueTokens(readAll);
      await emulator.control.issueTokens(readOnly, 'read,activity:read_all', { grantScope: 'read,activity:read' });
      await emulator.control.issueTokens(revoked);
      await emulator.control.revokeAthlete(revoked);
      const snapshot = await emulator.control.snapshot();
      const of = (id: number) => snapshot.athletes.find((a) => a.id === id)!;
      const truth = async (id: number, readAllScope: boolean) => (await emulator.control.groundTruth(id, { readAll: readAllScope })).map((a) => a.id);
      expect(of(readAll).activities.map((a) => a.id)).toEqual(await truth(readAll, true));
      expect(of(readAll).activities.some((a) => a.visibility === 'only_me')).toBe(true);
      expect(of(readOnly).activities.map((a) => a.id)).toEqual(await truth(readOnly, false));
      expect(of(readOnly).activities.some((a) => a.private)).toBe(false);
      expect(of(revoked)).toMatchObject({ connected: false, activities: [] });
      expect(of(never)).toMatchObject({ connected: false, scopes: [], activities: [] });
      expect(Object.keys(of(readAll).activities[0]!).sort()).toEqual(['id', 'name', 'private', 'sport_type', 'start_date', 'type', 'visibility']);
    });
  });
});

describe('chaos accounting', () => {
  it('counts 429s of the forced period apart from those of a spent limit', async () => {
    await withEmulator({ ...world, rateLimits: { read: { fifteenMinute: 3, daily: 1000 }, overall: { fifteenMinute: 200, daily: 2000 } } }, async (emulator) => {
      const [athlete] = await emulator.control.listAthletes();
      const { accessToken } = await emulator.control.issueTokens(athlete!.id);
      const call = () => fetch(`${emulator.apiUrl}/athlete`, { headers: { authorization: `Bearer ${accessToken}` } }).then((r) => r.status);
      await emulator.control.setFaults({ force429ForMs: 60_000 });
      expect([await call(), await call()]).toEqual([429, 429]);
      await emulator.control.setFaults({ rateLimitedUntil: null });
      expect([await call(), await call(), await call(), await call()]).toEqual([200, 200, 200, 429]);
      expect(await emulator.control.counters()).toMatchObject({ rateLimited: 3, rateLimitedForced: 2 });
    });
  });

  it('counts each athlete\'s refreshes and refresh-token rotations, across a revocation', async () => {
    await withEmulator({ ...world, refreshRotation: { every: 2 } }, async (emulator) => {
      const [athlete] = await emulator.control.listAthletes();
      let { refreshToken } = await emulator.control.issueTokens(athlete!.id);
      for (let i = 0; i < 3; i++) {
        const refreshed = await tokenCall(emulator, { grant_type: 'refresh_token', refresh_token: refreshToken });
        expect(refreshed.status).toBe(200);
        refreshToken = refreshed.json.refresh_token as string;
      }
      expect(await emulator.control.getAthlete(athlete!.id)).toMatchObject({ refreshes: 3, rotations: 1 });
      await emulator.control.revokeAthlete(athlete!.id);
      expect((await emulator.control.snapshot()).athletes.find((a) => a.id === athlete!.id)).toMatchObject({ refreshes: 3, rotations: 1, connected: false });
    });
  });
});

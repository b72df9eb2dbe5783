import { describe, expect, it } from 'vitest';
import { DAY_MS, FIFTEEN_MIN_MS, apiGet, withEmulator } from './helpers.js';

const RATE_LIMITED = '{"message":"Rate Limit Exceeded","errors":[{"resource":"Application","field":"rate limit","code":"exceeded"}]}';
// 2025-03-10T10:14:00Z: one minute before a window boundary.
const BEFORE_BOUNDARY = Date.UTC(2025, 2, 10, 10, 14, 0);

const usage = (headers: Headers) => ({
  limit: headers.get('x-ratelimit-limit'),
  usage: headers.get('x-ratelimit-usage'),
  readLimit: headers.get('x-readratelimit-limit'),
  readUsage: headers.get('x-readratelimit-usage'),
});

describe('rate limits', () => {
  it('every API response carries the four headers in 15min,daily format, whatever its status', async () => {
    await withEmulator({ startTimeMs: BEFORE_BOUNDARY }, async (emulator) => {
      const athlete = await emulator.control.createAthlete();
      const { accessToken } = await emulator.control.issueTokens(athlete.id);
      const ok = await apiGet(emulator, '/athlete', accessToken);
      expect(usage(ok.headers)).toEqual({ limit: '200,2000', usage: '1,1', readLimit: '100,1000', readUsage: '1,1' });
      const unauthorized = await apiGet(emulator, '/athlete', 'bad');
      expect(unauthorized.status).toBe(401);
      expect(usage(unauthorized.headers).usage).toBe('2,2');
      const missing = await apiGet(emulator, '/activities/1', accessToken);
      expect(missing.status).toBe(404);
      expect(usage(missing.headers).readUsage).toBe('3,3');
    });
  });

  it('429 with Strava\'s body past the read limit; the window resets at :15 UTC; refused calls count toward the day', async () => {
    await withEmulator({ startTimeMs: BEFORE_BOUNDARY, rateLimits: { read: { fifteenMinute: 5, daily: 12 } } }, async (emulator) => {
      const athlete = await emulator.control.createAthlete();
      const { accessToken } = await emulator.control.issueTokens(athlete.id);
      for (let i = 0; i < 5; i++) expect((await apiGet(emulator, '/athlete', accessToken)).status).toBe(200);
      const refused = await apiGet(emulator, '/athlete', accessToken);
      expect(refused.status).toBe(429);
      expect(refused.text).toBe(RATE_LIMITED);
      expect(refused.headers.get('retry-after')).toBeNull();
      expect(usage(refused.headers)).toMatchObject({ readLimit: '5,12', readUsage: '5,6' });
      expect((await apiGet(emulator, '/athlete', accessToken)).status).toBe(429);
      expect((await emulator.control.counters()).rateLimited).toBe(2);

      // 10:14:59.9 is still the same window...
      await emulator.control.setClock(Date.UTC(2025, 2, 10, 10, 14, 59, 900));
      expect((await apiGet(emulator, '/athlete', accessToken)).status).toBe(429);
      // ...10:15:00 is a new one, but the day already has 8 requests.
      await emulator.control.setClock(Date.UTC(2025, 2, 10, 10, 15, 0));
      const fresh = await apiGet(emulator, '/athlete', accessToken);
      expect(fresh.status).toBe(200);
      expect(usage(fresh.headers).readUsage).toBe('1,9');
      for (let i = 0; i < 3; i++) expect((await apiGet(emulator, '/athlete', accessToken)).status).toBe(200);
      // The daily limit (12) is reached although the 15-minute window has room.
      const daily = await apiGet(emulator, '/athlete', accessToken);
      expect(daily.status).toBe(429);
      expect(usage(daily.headers).readUsage).toBe('4,13');
      await emulator.control.advanceClock(FIFTEEN_MIN_MS);
      expect((await apiGet(emulator, '/athlete', accessToken)).status).toBe(429);
    });
  });

  it('the daily count resets at midnight UTC, not 24 h after the first call', async () => {
    await withEmulator({ startTimeMs: Date.UTC(2025, 2, 10, 23, 50, 0), rateLimits: { read: { fifteenMinute: 100, daily: 3 } } }, async (emulator) => {
      const athlete = await emulator.control.createAthlete();
      const { accessToken } = await emulator.control.issueTokens(athlete.id);
      for (let i = 0; i < 3; i++) expect((await apiGet(emulator, '/athlete', accessToken)).status).toBe(200);
      expect((await apiGet(emulator, '/athlete', accessToken)).status).toBe(429);
      await emulator.control.setClock(Date.UTC(2025, 2, 10, 23, 59, 59));
      expect((await apiGet(emulator, '/athlete', accessToken)).status).toBe(429);
      await emulator.control.setClock(Date.UTC(2025, 2, 11, 0, 0, 0));
      const next = await apiGet(emulator, '/athlete', accessToken);
      expect(next.status).toBe(200);
      expect(usage(next.headers).readUsage).toBe('1,1');
      // The access token was issued at 23:50 and lives 6 hours: fine at midnight, gone a day later.
      await emulator.control.advanceClock(DAY_MS);
      expect((await apiGet(emulator, '/athlete', accessToken)).status).toBe(401);
    });
  });

  it('the overall limit applies too', async () => {
    await withEmulator({ startTimeMs: BEFORE_BOUNDARY, rateLimits: { overall: { fifteenMinute: 2, daily: 100 }, read: { fifteenMinute: 50, daily: 100 } } }, async (emulator) => {
      const athlete = await emulator.control.createAthlete();
      const { accessToken } = await emulator.control.issueTokens(athlete.id);
      expect((await apiGet(emulator, '/athlete', accessToken)).status).toBe(200);
      expect((await apiGet(emulator, '/athlete', accessToken)).status).toBe(200);
      const refused = await apiGet(emulator, '/athlete', accessToken);
      expect(refused.status).toBe(429);
      expect(usage(refused.headers)).toMatchObject({ limit: '2,100', usage: '2,3' });
    });
  });
});

describe('API faults', () => {
  it('forced 429 for a period (emulator clock), counted like any request', async () => {
    await withEmulator({ startTimeMs: BEFORE_BOUNDARY }, async (emulator) => {
      const athlete = await emulator.control.createAthlete();
      const { accessToken } = await emulator.control.issueTokens(athlete.id);
      await emulator.control.setFaults({ force429ForMs: 60_000 });
      const refused = await apiGet(emulator, '/athlete', accessToken);
      expect(refused.status).toBe(429);
      expect(refused.text).toBe(RATE_LIMITED);
      expect(usage(refused.headers).usage).toBe('0,1');
      await emulator.control.advanceClock(60_001);
      expect((await apiGet(emulator, '/athlete', accessToken)).status).toBe(200);
    });
  });

  it('403 when the application is inactive', async () => {
    await withEmulator({}, async (emulator) => {
      const athlete = await emulator.control.createAthlete();
      const { accessToken } = await emulator.control.issueTokens(athlete.id);
      await emulator.control.setFaults({ appInactive: true });
      const forbidden = await apiGet(emulator, '/athlete', accessToken);
      expect(forbidden.status).toBe(403);
      expect(forbidden.json).toMatchObject({ message: 'Forbidden', errors: [{ resource: 'Application' }] });
      expect(forbidden.headers.get('x-ratelimit-usage')).toBe('1,1');
      await emulator.control.setFaults({ appInactive: false });
      expect((await apiGet(emulator, '/athlete', accessToken)).status).toBe(200);
    });
  });

  it('5xx at the configured rate, deterministic for a seed', async () => {
    const run = async (seed: number) =>
      withEmulator({ seed, rateLimits: { read: { fifteenMinute: 10_000, daily: 10_000 }, overall: { fifteenMinute: 10_000, daily: 10_000 } }, faults: { apiErrorRate: 0.2, apiErrorStatus: 503 } }, async (emulator) => {
        const athlete = await emulator.control.createAthlete();
        const { accessToken } = await emulator.control.issueTokens(athlete.id);
        const statuses: number[] = [];
        for (let i = 0; i < 400; i++) statuses.push((await apiGet(emulator, '/athlete', accessToken)).status);
        expect((await emulator.control.counters()).requests['GET /api/v3/athlete']).toEqual({ 200: statuses.filter((s) => s === 200).length, 503: statuses.filter((s) => s === 503).length });
        return statuses;
      });
    const first = await run(5);
    const errors = first.filter((s) => s === 503).length;
    expect(new Set(first)).toEqual(new Set([200, 503]));
    // 400 draws at p=0.2: mean 80, sd 8; allow 4 sd.
    expect(errors).toBeGreaterThan(48);
    expect(errors).toBeLessThan(112);
    expect(await run(5)).toEqual(first);
    expect(await run(6)).not.toEqual(first);
  });

  it('latency is added to API responses', async () => {
    await withEmulator({ faults: { apiLatencyMs: 150 } }, async (emulator) => {
      const started = Date.now();
      await apiGet(emulator, '/athlete', 'x');
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    });
  });
});

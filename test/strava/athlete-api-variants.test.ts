import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { getAthlete, upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { readTokens } from '../../src/db/repositories/tokens.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { createAthleteStrava } from '../../src/strava/athlete-api.js';
import type { StravaClient } from '../../src/strava/client.js';
import { NeedsReauthError, StravaAppForbiddenError, StravaTokenInvalidError } from '../../src/strava/errors.js';
import { createStravaServices, type StravaServices } from '../../src/strava/services.js';
import { useTestDatabase } from '../helpers/database.js';
import { emulatorConfig } from '../helpers/emulator-config.js';
import { clientFor, countOf } from './helpers.js';

/**
 * Strava's recorded 401 variants and /oauth/deauthorize accounting, at the athlete-call layer (governor -> vault
 * -> client) over the emulator and a real PostgreSQL. What a 401 means for the athlete is decided by Strava's
 * answer to the refresh token, not by the body of the 401.
 */

const db = useTestDatabase();
let emulator: RunningEmulator;
let services: StravaServices;
const VARIANTS = ['athlete', 'application'] as const;

beforeAll(async () => {
  emulator = await startEmulator({ seed: 16, startTimeMs: Date.parse('2030-04-01T06:00:30Z') });
  services = createStravaServices(emulatorConfig(emulator, db.url), db.sql, { now: () => emulator.now() });
});
afterAll(async () => {
  await emulator?.close();
});
beforeEach(async () => {
  await db.sql`truncate strava_rate_budget`;
  await emulator.control.setFaults({ unauthorizedVariant: 'athlete' });
  await emulator.control.advanceClock(15 * 60_000); // a fresh Strava window for every test
});

async function connected(activities = 3) {
  const { id } = await emulator.control.createAthlete({ activities });
  const issued = await emulator.control.issueTokens(id);
  await upsertConnectedAthlete(db.sql, id, issued.scope.split(','));
  await services.vault.store(id, issued);
  return { id, issued };
}

const stateOf = async (id: number) => (await getAthlete(db.sql, id))!.state;
const requests = async (endpoint: string, status?: number) => countOf(await emulator.control.counters(), endpoint, status);

/** The client, except that every API call presents a token Strava does not know (refreshes stay real). */
function presentingUnknownToken(client: StravaClient): StravaClient {
  return {
    ...client,
    getAthlete: (_token, options) => client.getAthlete('0'.repeat(40), options),
    listAthleteActivities: (_token, params, options) => client.listAthleteActivities('0'.repeat(40), params, options),
    getActivity: (_token, id, options) => client.getActivity('0'.repeat(40), id, options),
  };
}

describe('a 401 is judged by the refresh token, whatever its body', () => {
  it.each(VARIANTS)('%s variant: an access token Strava dropped is replaced and the call goes through; the athlete is fine', async (variant) => {
    await emulator.control.setFaults({ unauthorizedVariant: variant });
    const { id, issued } = await connected();
    // The vault holds a token Strava no longer accepts although its recorded expiry is hours away.
    await services.vault.store(id, { ...issued, accessToken: 'f'.repeat(40) });
    const unauthorizedBefore = await requests('GET /api/v3/athlete/activities', 401);
    const refreshesBefore = await requests('POST /oauth/token');

    const list = await services.athleteStrava.listActivities(id, 'realtime', { perPage: 10 });

    expect(list.map((a) => a.athlete.id)).toEqual([id, id, id]);
    expect(await requests('GET /api/v3/athlete/activities', 401)).toBe(unauthorizedBefore + 1);
    expect(await requests('POST /oauth/token')).toBe(refreshesBefore + 1);
    // Strava answered the refresh with its current access token (more than an hour left): stored for next time.
    expect(await services.vault.getAccessToken(id)).toBe(issued.accessToken);
    expect(await stateOf(id)).toBe('importing');
  });

  it.each(VARIANTS)('%s variant: a revoked athlete: the refresh token is refused too -> NeedsReauthError, needs_reauth, tokens gone', async (variant) => {
    await emulator.control.setFaults({ unauthorizedVariant: variant });
    const { id } = await connected();
    expect(await emulator.control.revokeAthlete(id)).toBe(true);

    const error = await services.athleteStrava.getAthlete(id, 'realtime').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(NeedsReauthError);
    expect(error).toMatchObject({ reason: 'refresh_token_invalid', athleteId: id });
    expect(await stateOf(id)).toBe('needs_reauth');
    expect(await readTokens(db.sql, id)).toBeUndefined();
  });

  it('Application//invalid that persists after Strava accepted the refresh token: the application is refused, not the athlete', async () => {
    await emulator.control.setFaults({ unauthorizedVariant: 'application' });
    const { id } = await connected();
    const [activity] = await emulator.control.groundTruth(id);
    const refused = createAthleteStrava({ client: presentingUnknownToken(services.client), vault: services.vault, governor: services.governor });
    const refreshesBefore = await requests('POST /oauth/token');

    const error = await refused.getActivity(id, 'realtime', activity!.id).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StravaAppForbiddenError);
    expect(error).toMatchObject({ kind: 'app_forbidden', status: 401, retryable: true, errors: [{ resource: 'Application', field: '', code: 'invalid' }] });
    // One refresh to ask Strava about the athlete, one more try, then the verdict: no loop.
    expect(await requests('POST /oauth/token')).toBe(refreshesBefore + 1);
    expect(await stateOf(id)).toBe('importing');
    expect(await readTokens(db.sql, id)).toBeDefined();
    expect((await services.athleteStrava.getActivity(id, 'realtime', activity!.id)).id).toBe(activity!.id);
  });

  it('the athlete-token 401 that persists after an accepted refresh keeps its meaning: StravaTokenInvalidError', async () => {
    const { id } = await connected();
    const refused = createAthleteStrava({ client: presentingUnknownToken(services.client), vault: services.vault, governor: services.governor });
    const error = await refused.getAthlete(id, 'realtime').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StravaTokenInvalidError);
    expect(error).toMatchObject({ kind: 'token_invalid', errors: [{ resource: 'Athlete', field: 'access_token', code: 'invalid' }] });
  });
});

describe('/oauth/deauthorize and the rate governor', () => {
  it("its usage headers reach the governor: the budget moves to Strava's count after a deauthorization", async () => {
    const { id } = await connected();
    const other = await connected();
    // Someone else spends the application's quota (a script with the same app): only headers can tell.
    const script = clientFor(emulator);
    for (let i = 0; i < 7; i++) await script.getAthlete(other.issued.accessToken);
    const before = await services.governor.snapshot();

    await services.athleteStrava.deauthorize(id);

    expect((await emulator.control.getAthlete(id)).connected).toBe(false);
    const after = await services.governor.snapshot();
    const strava = await emulator.control.rateLimits();
    expect(after.window.used).toBe(before.window.used + 8);
    expect(after.window.used).toBe(strava.usage.fifteenMinute.read);
    expect(after.day.used).toBe(strava.usage.daily.read);
    expect(after.usedByPriority.realtime).toBe(before.usedByPriority.realtime + 1);
  });

  it('the recorded shape (overall pair only: strava-ruby-client deauthorize.yml) never replaces the read limits', async () => {
    const { id } = await connected();
    await services.athleteStrava.getAthlete(id, 'realtime'); // the governor learns the read limits
    const before = await services.governor.snapshot();
    const recorded: typeof fetch = async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (url.pathname !== '/oauth/deauthorize') return fetch(input, init);
      return new Response('{"access_token":"access-token"}', {
        status: 200,
        headers: { 'Content-Type': 'application/json; charset=UTF-8', 'X-Ratelimit-Limit': '600,30000', 'X-Ratelimit-Usage': '101,8937' },
      });
    };
    const athleteStrava = createAthleteStrava({ client: clientFor(emulator, { fetch: recorded }), vault: services.vault, governor: services.governor });

    await athleteStrava.deauthorize(id);

    const after = await services.governor.snapshot();
    const strava = await emulator.control.rateLimits();
    expect(after.window.limit).toBe(strava.limits.read.fifteenMinute);
    expect(after.day.limit).toBe(strava.limits.read.daily);
    expect({ window: after.window.limit, day: after.day.limit }).toEqual({ window: before.window.limit, day: before.day.limit });
    // Still counted: the permit it took.
    expect(after.window.used).toBe(before.window.used + 1);
  });

  it('a revoked athlete counts as deauthorized (no tokens left to send)', async () => {
    const { id } = await connected();
    await emulator.control.revokeAthlete(id);
    await services.athleteStrava.deauthorize(id);
    expect(await readTokens(db.sql, id)).toBeUndefined();
    await services.athleteStrava.deauthorize(id);
  });
});

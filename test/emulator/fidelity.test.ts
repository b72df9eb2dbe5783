/**
 * Fidelity: the emulator against Strava's own swagger and recorded real exchanges, not against our docs.
 * Each `it` names what it was checked against:
 *
 * - SWAGGER: Strava's swagger.json (developers.strava.com/swagger/swagger.json, copy in stravalib's
 *   src/stravalib/tests/resources/strava_swagger.json) and its models (activity.json#/ActivityType and
 *   #/SportType, athlete.json#/SummaryAthlete and #/DetailedAthlete, as generated into stravalib's
 *   src/stravalib/strava_model.py).
 * - RUBY: strava-ruby-client's VCR cassettes of real calls (spec/fixtures/strava/client/*.yml).
 * - ISSUES: real responses pasted in client libraries' issues (repository and number given).
 * - DOCS: developers.strava.com/docs (authentication, webhooks, rate limits), via docs/strava-api.md where
 *   the shared notes quote them.
 *
 * Every assertion goes over real HTTP to a real emulator.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { ACTIVITY_TYPES, LEGACY_TYPE_OF_NEW_SPORT } from '../../src/emulator/sports.js';
import { apiGet, startCallbackServer, subscribe, tokenCall, waitFor, type CallbackServer } from './helpers.js';

/** swagger activity.json#/SportType, verbatim order. */
const SPORT_TYPES = [
  'AlpineSki', 'BackcountrySki', 'Badminton', 'Canoeing', 'Crossfit', 'EBikeRide', 'Elliptical', 'EMountainBikeRide', 'Golf',
  'GravelRide', 'Handcycle', 'HighIntensityIntervalTraining', 'Hike', 'IceSkate', 'InlineSkate', 'Kayaking', 'Kitesurf',
  'MountainBikeRide', 'NordicSki', 'Pickleball', 'Pilates', 'Racquetball', 'Ride', 'RockClimbing', 'RollerSki', 'Rowing', 'Run',
  'Sail', 'Skateboard', 'Snowboard', 'Snowshoe', 'Soccer', 'Squash', 'StairStepper', 'StandUpPaddling', 'Surfing', 'Swim',
  'TableTennis', 'Tennis', 'TrailRun', 'Velomobile', 'VirtualRide', 'VirtualRow', 'VirtualRun', 'Walk', 'WeightTraining',
  'Wheelchair', 'Windsurf', 'Workout', 'Yoga',
];

const RATE_HEADERS = ['x-ratelimit-limit', 'x-ratelimit-usage', 'x-readratelimit-limit', 'x-readratelimit-usage'];

let emulator: RunningEmulator;
let callback: CallbackServer;

beforeAll(async () => {
  // Only the retry spacing is shortened (this file watches no retries but one, in its own emulator below);
  // rotation stays at its default, on.
  emulator = await startEmulator({ seed: 16, webhookRetryDelayMs: 100 });
  callback = await startCallbackServer();
  await subscribe(emulator, callback.url);
});

afterAll(async () => {
  await emulator?.close();
  await callback?.close();
});

afterEach(async () => {
  await emulator.control.setFaults({ webhookOmitEmptyUpdates: false, notFoundEmptyBody: false, unauthorizedVariant: 'athlete', badCodeVariant: 'invalid' });
  callback.respond = () => 200;
});

/** Waits for the next `count` events after `from` and returns their raw bodies. */
async function nextEvents(from: number, count: number): Promise<string[]> {
  await waitFor(() => callback.events.length, (n) => n >= from + count);
  return callback.events.slice(from, from + count).map((e) => e.raw);
}

async function connected(scope = 'read,activity:read_all', options: { grantScope?: string; activities?: number } = {}) {
  const athlete = await emulator.control.createAthlete({ activities: options.activities ?? 0 });
  const tokens = await emulator.control.issueTokens(athlete.id, scope, options.grantScope === undefined ? {} : { grantScope: options.grantScope });
  return { athleteId: athlete.id, ...tokens };
}

describe('fidelity to Strava (swagger and recorded exchanges)', () => {
  it('SWAGGER activity.json#/ActivityType: `type` is always a legacy ActivityType; new sport types map to their parent (also in webhook updates.type)', async () => {
    // The swagger's ActivityType description: "activities with these sport types will have the corresponding
    // activity type (e.g. Ride for MountainBikeRide, EBikeRide for EMountainBikeRide)".
    expect(LEGACY_TYPE_OF_NEW_SPORT).toMatchObject({ MountainBikeRide: 'Ride', EMountainBikeRide: 'EBikeRide', GravelRide: 'Ride', TrailRun: 'Run' });
    const { athleteId, accessToken } = await connected('read,activity:read_all', { activities: 300 });
    // Every sport type of the swagger enum, through the control API, comes back with a legacy type.
    for (const sport of SPORT_TYPES) {
      const created = await emulator.control.createActivity(athleteId, { sport_type: sport });
      const detail = (await apiGet(emulator, `/activities/${created.id}`, accessToken)).json as { type: string; sport_type: string };
      expect(detail.sport_type).toBe(sport);
      expect(ACTIVITY_TYPES.has(detail.type), `${sport} -> ${detail.type}`).toBe(true);
      expect(detail.type).toBe(ACTIVITY_TYPES.has(sport) ? sport : LEGACY_TYPE_OF_NEW_SPORT[sport]);
    }
    // Generated history (TrailRun, GravelRide, MountainBikeRide among them) and the list endpoint agree.
    const list = (await apiGet(emulator, '/athlete/activities?per_page=200', accessToken)).json as { type: string; sport_type: string }[];
    expect(list.some((a) => a.sport_type === 'TrailRun' && a.type === 'Run')).toBe(true);
    for (const a of list) expect(ACTIVITY_TYPES.has(a.type), `${a.sport_type} -> ${a.type}`).toBe(true);

    // A sport change to EMountainBikeRide announces the legacy type, never the new sport type.
    const ride = await emulator.control.createActivity(athleteId, { sport_type: 'Ride' });
    await emulator.control.webhooksSettled();
    const from = callback.events.length;
    await emulator.control.updateActivity(ride.id, { sport_type: 'EMountainBikeRide' });
    const [raw] = await nextEvents(from, 1);
    expect(JSON.parse(raw!)).toMatchObject({ object_id: ride.id, aspect_type: 'update', updates: { type: 'EBikeRide' } });
  });

  it('SWAGGER GET /athlete ("profile:read_all ... detailed athlete representation; all others ... summary"): resource_state 3 vs 2', async () => {
    const summaryToken = (await connected('read,activity:read_all')).accessToken;
    const detailed = await connected('read,profile:read_all,activity:read_all');
    const summary = (await apiGet(emulator, '/athlete', summaryToken)).json as Record<string, unknown>;
    const detail = (await apiGet(emulator, '/athlete', detailed.accessToken)).json as Record<string, unknown>;
    expect(summary.resource_state).toBe(2);
    expect(detail.resource_state).toBe(3);
    expect(detail.id).toBe(detailed.athleteId);
    // DetailedAthlete's own fields (the swagger's /athlete example), absent from the summary.
    for (const field of ['follower_count', 'friend_count', 'measurement_preference', 'date_preference', 'ftp', 'clubs', 'bikes', 'shoes']) {
      expect(detail, field).toHaveProperty(field);
      expect(summary, field).not.toHaveProperty(field);
    }
    // SummaryAthlete's fields are in both.
    for (const field of ['id', 'firstname', 'lastname', 'city', 'state', 'country', 'sex', 'premium', 'summit', 'created_at', 'updated_at', 'profile', 'profile_medium']) {
      expect(summary, field).toHaveProperty(field);
      expect(detail, field).toHaveProperty(field);
    }
  });

  it("RUBY + ISSUES: Strava's variants as faults: no `updates` key, empty 404, Application 401, other bad-code shapes", async () => {
    const { athleteId, accessToken } = await connected();

    // Webhook events without an `updates` key (shared notes: "some senders omit updates entirely").
    await emulator.control.setFaults({ webhookOmitEmptyUpdates: true });
    let from = callback.events.length;
    const activity = await emulator.control.createActivity(athleteId, {});
    const [created] = await nextEvents(from, 1);
    expect(Object.keys(JSON.parse(created!))).toEqual(['object_type', 'object_id', 'aspect_type', 'owner_id', 'subscription_id', 'event_time']);
    from = callback.events.length;
    await emulator.control.updateActivity(activity.id, { name: 'renamed' }); // an update keeps its updates
    expect(JSON.parse((await nextEvents(from, 1))[0]!)).toMatchObject({ updates: { title: 'renamed' } });

    // 404 with an empty body and no rate-limit headers: RUBY not_found_error.yml (GET /activities/{id}, 2020).
    await emulator.control.setFaults({ notFoundEmptyBody: true });
    const missing = await apiGet(emulator, '/activities/1', accessToken);
    expect(missing.status).toBe(404);
    expect(missing.text).toBe('');
    for (const header of RATE_HEADERS) expect(missing.headers.get(header)).toBeNull();
    // Off: the Fault body (shared notes) with the rate headers.
    await emulator.control.setFaults({ notFoundEmptyBody: false });
    const fault = await apiGet(emulator, '/activities/1', accessToken);
    expect(fault.text).toBe('{"message":"Resource Not Found","errors":[{"resource":"Activity","field":"","code":"not found"}]}');
    expect(fault.headers.get('x-ratelimit-usage')).not.toBeNull();

    // 401 naming the Application: RUBY authorization_error.yml (GET /activities/{id}, 2020, no rate headers);
    // the athlete-token twin is the shared notes' (and many pasted issues', e.g. craibo/ha_strava #160).
    await emulator.control.setFaults({ unauthorizedVariant: 'application' });
    const app401 = await apiGet(emulator, '/activities/1', 'revoked-or-unknown');
    expect(app401.status).toBe(401);
    expect(app401.text).toBe('{"message":"Authorization Error","errors":[{"resource":"Application","field":"","code":"invalid"}]}');
    for (const header of RATE_HEADERS) expect(app401.headers.get(header)).toBeNull();
    // The same body for a token exchange with a wrong app configuration (node-strava/node-strava-v3 #37,
    // iamstuartwilson/strava #28).
    const wrongSecret = await tokenCall(emulator, { grant_type: 'refresh_token', refresh_token: 'x', client_secret: 'wrong' });
    expect([wrongSecret.status, wrongSecret.text]).toEqual([401, app401.text]);
    await emulator.control.setFaults({ unauthorizedVariant: 'athlete' });
    expect((await apiGet(emulator, '/activities/1', 'revoked-or-unknown')).text).toBe(
      '{"message":"Authorization Error","errors":[{"resource":"Athlete","field":"access_token","code":"invalid"}]}',
    );

    // A bad authorization code: AuthorizationCode/code/invalid (yihong0618/running_page #523, recorded with
    // headers: 400, no rate-limit headers), AuthorizationCode//expired (stravalib/stravalib #190), and
    // RequestToken/code/invalid (iamstuartwilson/strava #29).
    const shapes = {
      invalid: '{"message":"Bad Request","errors":[{"resource":"AuthorizationCode","field":"code","code":"invalid"}]}',
      expired: '{"message":"Bad Request","errors":[{"resource":"AuthorizationCode","field":"","code":"expired"}]}',
      request_token: '{"message":"Bad Request","errors":[{"resource":"RequestToken","field":"code","code":"invalid"}]}',
    } as const;
    for (const [variant, body] of Object.entries(shapes) as [keyof typeof shapes, string][]) {
      await emulator.control.setFaults({ badCodeVariant: variant });
      const answer = await tokenCall(emulator, { grant_type: 'authorization_code', code: 'not-a-code' });
      expect(answer.status).toBe(400);
      expect(answer.text).toBe(body);
      expect(answer.headers.get('x-ratelimit-usage')).toBeNull();
    }
  });

  it('DOCS (scopes; webhooks "Privacy, requires activity:read_all"): consent narrower than requested hides "Only You" and turns privacy flips into delete/create', async () => {
    // Per athlete, through the control API: the athlete unticks "private activities".
    const athlete = await emulator.control.createAthlete({ activities: 60 });
    await emulator.control.setConsent(athlete.id, 'read,activity:read');
    const tokens = await emulator.control.issueTokens(athlete.id, 'read,activity:read_all');
    expect(tokens.scope).toBe('read,activity:read'); // the redirect carries what was granted, as Strava's does

    const visible = (await apiGet(emulator, '/athlete/activities?per_page=200', tokens.accessToken)).json as { id: number; visibility: string }[];
    const all = await emulator.control.groundTruth(athlete.id, { readAll: true });
    const hidden = all.filter((a) => a.visibility === 'only_me');
    expect(hidden.length).toBeGreaterThan(0);
    expect(visible.map((a) => a.id)).toEqual(all.filter((a) => a.visibility !== 'only_me').map((a) => a.id));
    expect((await apiGet(emulator, `/activities/${hidden[0]!.id}`, tokens.accessToken)).status).toBe(404);

    // A flip to "Only You" is a delete for this app, back to everyone a create; never an update with `private`.
    const target = visible[0]!.id;
    await emulator.control.webhooksSettled();
    let from = callback.events.length;
    await emulator.control.updateActivity(target, { private: true });
    expect(JSON.parse((await nextEvents(from, 1))[0]!)).toMatchObject({ object_id: target, aspect_type: 'delete', updates: {} });
    from = callback.events.length;
    await emulator.control.updateActivity(target, { private: false });
    expect(JSON.parse((await nextEvents(from, 1))[0]!)).toMatchObject({ object_id: target, aspect_type: 'create', updates: {} });

    // The consent URL expresses the same for one authorization; the setting can be cleared.
    await emulator.control.setConsent(athlete.id, null);
    const full = await emulator.control.issueTokens(athlete.id, 'read,activity:read_all');
    expect(full.scope).toBe('read,activity:read_all');
    const viaUrl = await emulator.control.issueTokens(athlete.id, 'read,activity:read_all', { grantScope: 'read,activity:read' });
    expect(viaUrl.scope).toBe('read,activity:read');
    expect((await apiGet(emulator, `/activities/${hidden[0]!.id}`, viaUrl.accessToken)).status).toBe(404);
  });

  it('DOCS (refresh tokens "may or may not be the same"; webhook retries about 1-2 minutes apart): rotation on and 90 s retries by default', async () => {
    const defaults = await startEmulator({ seed: 17 });
    const failing = await startCallbackServer();
    failing.respond = () => 500;
    try {
      const config = (await (await fetch(`${defaults.baseUrl}/_emulator/config`)).json()) as Record<string, unknown>;
      expect(config).toMatchObject({ refreshRotation: 'always', webhookRetryDelayMs: 90_000, webhookMaxAttempts: 3 });

      // Rotation: each refresh returns a new refresh token and the previous one is refused at once.
      const athlete = await defaults.control.createAthlete();
      const tokens = await defaults.control.issueTokens(athlete.id);
      const first = await tokenCall(defaults, { grant_type: 'refresh_token', refresh_token: tokens.refreshToken });
      expect(first.status).toBe(200);
      expect(first.json.refresh_token).not.toBe(tokens.refreshToken);
      const reused = await tokenCall(defaults, { grant_type: 'refresh_token', refresh_token: tokens.refreshToken });
      expect(reused.status).toBe(400);
      expect(reused.text).toBe('{"message":"Bad Request","errors":[{"resource":"RefreshToken","field":"refresh_token","code":"invalid"}]}');

      // Retry spacing: the first attempt fails and no second one comes within 2 s, while the shared emulator
      // (100 ms spacing, the positive control) retries the same failure twice in that time.
      await subscribe(defaults, failing.url);
      await defaults.control.issueTokens(athlete.id);
      await defaults.control.createActivity(athlete.id, {});
      const from = callback.events.length;
      callback.respond = () => 500;
      const control = await connected();
      await emulator.control.createActivity(control.athleteId, {});
      await waitFor(() => failing.events.length, (n) => n >= 1);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      expect(failing.events).toHaveLength(1);
      expect(callback.events.length - from).toBe(3);
      const log = await defaults.control.webhookLog();
      expect(log.at(-1)).toMatchObject({ outcome: 'pending', attempts: [{ status: 500 }] });
    } finally {
      await defaults.close();
      await failing.close();
    }
  });

  it('RUBY deauthorize.yml: /oauth/deauthorize counts toward the limits and carries the rate-limit headers; /oauth/token carries none', async () => {
    const { accessToken, refreshToken } = await connected();
    const before = (await apiGet(emulator, '/athlete', accessToken)).headers.get('x-ratelimit-usage')!.split(',').map(Number);
    const refreshed = await tokenCall(emulator, { grant_type: 'refresh_token', refresh_token: refreshToken });
    expect(refreshed.status).toBe(200);
    for (const header of RATE_HEADERS) expect(refreshed.headers.get(header)).toBeNull();

    const response = await fetch(`${emulator.oauthUrl}/deauthorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ access_token: refreshed.json.access_token as string }),
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(JSON.stringify({ access_token: refreshed.json.access_token }));
    // The recording carries X-RateLimit-Limit and X-RateLimit-Usage; the read pair is UNCONFIRMED (it predates them).
    expect(response.headers.get('x-ratelimit-limit')).toBe('200,2000');
    const usage = response.headers.get('x-ratelimit-usage')!.split(',').map(Number);
    expect(usage[1]).toBe(before[1]! + 1); // counted (token calls are not)
    expect(response.headers.get('x-readratelimit-usage')).not.toBeNull();
  });

  it('DOCS rate limits (+ RUBY activity_with_ratelimit_exceeded.yml for the headers on a 429): four headers on every API response, 429 Fault without Retry-After', async () => {
    const limited = await startEmulator({ seed: 18, rateLimits: { read: { fifteenMinute: 2, daily: 1000 } } });
    try {
      const athlete = await limited.control.createAthlete();
      const { accessToken } = await limited.control.issueTokens(athlete.id);
      const ok = await apiGet(limited, '/athlete', accessToken);
      expect(ok.headers.get('x-ratelimit-limit')).toBe('200,2000');
      expect(ok.headers.get('x-readratelimit-limit')).toBe('2,1000');
      expect(ok.headers.get('x-readratelimit-usage')).toBe('1,1');
      await apiGet(limited, '/athlete', accessToken);
      const refused = await apiGet(limited, '/athlete', accessToken);
      expect(refused.status).toBe(429);
      expect(refused.text).toBe('{"message":"Rate Limit Exceeded","errors":[{"resource":"Application","field":"rate limit","code":"exceeded"}]}');
      expect(refused.headers.get('retry-after')).toBeNull();
      // Refused requests still count toward the day.
      expect(refused.headers.get('x-readratelimit-usage')).toBe('2,3');
      const next = await apiGet(limited, '/athlete', accessToken);
      expect(next.headers.get('x-readratelimit-usage')).toBe('2,4');
    } finally {
      await limited.close();
    }
  });

  it('DOCS authentication + ISSUES running_page #523: token responses in Strava\'s field order; same access token while more than 1 h remains', async () => {
    const athlete = await emulator.control.createAthlete();
    const authorize = new URL(`${emulator.oauthUrl}/authorize`);
    for (const [k, v] of Object.entries({ client_id: emulator.clientId, redirect_uri: 'http://localhost/cb', response_type: 'code', scope: 'read,activity:read_all', state: 'st', athlete_id: String(athlete.id) })) authorize.searchParams.set(k, v);
    const consent = await fetch(authorize, { redirect: 'manual' });
    const location = consent.headers.get('location')!;
    expect(location).toMatch(/^http:\/\/localhost\/cb\?state=st&code=[0-9a-f]+&scope=read,activity:read_all$/); // commas and colons literal
    const code = new URL(location).searchParams.get('code')!;
    const exchanged = await tokenCall(emulator, { grant_type: 'authorization_code', code });
    expect(Object.keys(exchanged.json)).toEqual(['token_type', 'expires_at', 'expires_in', 'refresh_token', 'access_token', 'athlete']);
    expect(exchanged.json).toMatchObject({ token_type: 'Bearer', expires_in: 21_600, athlete: { id: athlete.id, resource_state: 2 } });
    const refreshed = await tokenCall(emulator, { grant_type: 'refresh_token', refresh_token: exchanged.json.refresh_token as string });
    expect(Object.keys(refreshed.json)).toEqual(['token_type', 'access_token', 'expires_at', 'expires_in', 'refresh_token']);
    expect(refreshed.json.access_token).toBe(exchanged.json.access_token);
    // Codes are single use.
    expect((await tokenCall(emulator, { grant_type: 'authorization_code', code })).status).toBe(400);
  });

  it('DOCS webhooks: payload keys in documented order, `private` as a string, deauthorization as authorized "false"', async () => {
    const { athleteId } = await connected();
    const activity = await emulator.control.createActivity(athleteId, {});
    await emulator.control.webhooksSettled();
    const from = callback.events.length;
    await emulator.control.updateActivity(activity.id, { private: true });
    const [flip] = await nextEvents(from, 1);
    expect(flip).toMatch(/^\{"object_type":"activity","object_id":\d+,"aspect_type":"update","updates":\{"private":"true"\},"owner_id":\d+,"subscription_id":\d+,"event_time":\d+\}$/);
    await emulator.control.revokeAthlete(athleteId);
    const [revoked] = await nextEvents(from + 1, 1);
    expect(JSON.parse(revoked!)).toMatchObject({ object_type: 'athlete', object_id: athleteId, aspect_type: 'update', updates: { authorized: 'false' }, owner_id: athleteId });
  });
});

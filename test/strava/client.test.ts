import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import {
  isInvalidRefreshTokenError,
  StravaAppForbiddenError,
  StravaBadRequestError,
  StravaError,
  StravaMissingScopeError,
  StravaNotFoundError,
  StravaRateLimitedError,
  StravaServerError,
  StravaTokenInvalidError,
} from '../../src/strava/errors.js';
import type { RateUsage } from '../../src/strava/rate-headers.js';
import { clientFor } from './helpers.js';

let emulator: RunningEmulator;
let client: ReturnType<typeof clientFor>;
let athleteId: number;
let accessToken: string;
let refreshToken: string;
const secrets: string[] = [];

/** Runs the call, expects a rejection, and checks it is a StravaError that leaks no secret. */
async function failure(promise: Promise<unknown>): Promise<StravaError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StravaError);
  const text = `${String(error)} ${JSON.stringify(error)} ${(error as Error).stack ?? ''}`;
  for (const secret of secrets) expect(text).not.toContain(secret);
  return error as StravaError;
}

beforeAll(async () => {
  emulator = await startEmulator({ seed: 4 });
  client = clientFor(emulator);
  athleteId = (await emulator.control.createAthlete({ activities: 45 })).id;
  const tokens = await emulator.control.issueTokens(athleteId);
  accessToken = tokens.accessToken;
  refreshToken = tokens.refreshToken;
  secrets.push(accessToken, refreshToken, emulator.clientSecret);
});

afterAll(async () => {
  await emulator?.close();
});

beforeEach(async () => {
  await emulator.control.setFaults({
    apiErrorRate: 0,
    apiLatencyMs: 0,
    rateLimitedUntil: null,
    appInactive: false,
    notFoundEmptyBody: false,
    unauthorizedVariant: 'athlete',
    badCodeVariant: 'invalid',
  });
});

describe('successful calls', () => {
  it('gets the athlete, pages activities and fetches a detailed activity, reporting usage headers each time', async () => {
    const seen: RateUsage[] = [];
    const onRateUsage = (usage: RateUsage) => seen.push(usage);
    const athlete = await client.getAthlete(accessToken, { onRateUsage });
    expect(athlete.id).toBe(athleteId);

    const page1 = await client.listAthleteActivities(accessToken, { page: 1, perPage: 30 }, { onRateUsage });
    const page2 = await client.listAthleteActivities(accessToken, { page: 2, perPage: 30 }, { onRateUsage });
    const page3 = await client.listAthleteActivities(accessToken, { page: 3, perPage: 30 }, { onRateUsage });
    expect(page1).toHaveLength(30);
    expect(page3).toEqual([]);
    const truth = await emulator.control.groundTruth(athleteId);
    expect([...page1, ...page2].map((a) => a.id)).toEqual(truth.map((a) => a.id));

    // Unknown fields are kept: the parsed value is the raw JSON for storage.
    const detailed = await client.getActivity(accessToken, page1[0]!.id, { onRateUsage });
    expect(detailed.id).toBe(page1[0]!.id);
    expect(Object.keys(detailed).length).toBeGreaterThan(Object.keys(page1[0]!).length - 1);
    expect(detailed).toHaveProperty('resource_state', 3);

    // One usage snapshot per API response, matching the emulator's own count.
    expect(seen).toHaveLength(5);
    const state = await emulator.control.rateLimits();
    const last = seen.at(-1)!;
    expect(last.read).toEqual({
      limit: { fifteenMinute: state.limits.read.fifteenMinute, daily: state.limits.read.daily },
      usage: { fifteenMinute: state.usage.fifteenMinute.read, daily: state.usage.daily.read },
    });
    expect(last.overall?.limit).toEqual({ fifteenMinute: 200, daily: 2000 });
    expect(seen.map((u) => u.read!.usage.fifteenMinute)).toEqual([1, 2, 3, 4, 5].map((n) => n + seen[0]!.read!.usage.fifteenMinute - 1));
  });

  it('filters by before/after in epoch seconds and accepts Dates', async () => {
    const truth = await emulator.control.groundTruth(athleteId);
    const pivot = truth[10]!;
    const after = await client.listAthleteActivities(accessToken, { after: new Date(pivot.start_date), perPage: 200 });
    expect(after.every((a) => Date.parse(a.start_date) > Date.parse(pivot.start_date))).toBe(true);
    expect(after).toHaveLength(10);
    await expect(client.listAthleteActivities(accessToken, { before: Date.parse(pivot.start_date) })).rejects.toThrow(RangeError);
  });

  it('runs the OAuth code flow from the authorize URL', async () => {
    const other = (await emulator.control.createAthlete({ activities: 1 })).id;
    const url = new URL(
      client.authorizeUrl({ redirectUri: 'http://localhost/cb', scope: 'read,activity:read_all', state: 's1', approvalPrompt: 'force' }),
    );
    expect(url.origin + url.pathname).toBe(`${emulator.oauthUrl}/authorize`);
    url.searchParams.set('athlete_id', String(other));
    const consent = await fetch(url, { redirect: 'manual' });
    const redirect = new URL(consent.headers.get('location')!);
    expect(redirect.searchParams.get('state')).toBe('s1');
    const { tokens, athlete } = await client.exchangeCode(redirect.searchParams.get('code')!);
    expect(athlete.id).toBe(other);
    expect(tokens.expiresAt.getTime()).toBeGreaterThan(emulator.now());
    expect((await client.getAthlete(tokens.accessToken)).id).toBe(other);

    const refreshed = await client.refreshToken(tokens.refreshToken);
    expect(refreshed.accessToken).toBeTruthy();
    await client.deauthorize(tokens.accessToken);
    const error = await failure(client.getAthlete(tokens.accessToken));
    expect(error).toBeInstanceOf(StravaTokenInvalidError);
  });

  it('creates, lists and deletes the push subscription', async () => {
    const server: Server = createServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ 'hub.challenge': url.searchParams.get('hub.challenge') }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const callbackUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/strava`;
      const created = await client.createPushSubscription({ callbackUrl, verifyToken: 'v' });
      expect(created.callback_url).toBe(callbackUrl);
      expect((await client.listPushSubscriptions()).map((s) => s.id)).toEqual([created.id]);
      const again = await failure(client.createPushSubscription({ callbackUrl, verifyToken: 'v' }));
      expect(again).toBeInstanceOf(StravaBadRequestError);
      expect(again.errors[0]?.code).toBe('already exists');
      await client.deletePushSubscription(created.id);
      expect(await client.listPushSubscriptions()).toEqual([]);
    } finally {
      server.close();
    }
  });
});

describe('error taxonomy, from real emulator responses', () => {
  it('401 on a bad token: StravaTokenInvalidError, not retryable', async () => {
    const error = await failure(client.getAthlete('not-a-token'));
    expect(error).toBeInstanceOf(StravaTokenInvalidError);
    expect(error).toMatchObject({ name: 'StravaTokenInvalidError', status: 401, retryable: false, kind: 'token_invalid' });
  });

  it('401 activity:read_permission missing: StravaMissingScopeError', async () => {
    const limited = (await emulator.control.createAthlete({ activities: 2 })).id;
    const tokens = await emulator.control.issueTokens(limited, 'read,activity:read_all', { grantScope: 'read' });
    secrets.push(tokens.accessToken, tokens.refreshToken);
    const error = await failure(client.listAthleteActivities(tokens.accessToken));
    expect(error).toBeInstanceOf(StravaMissingScopeError);
    expect(error).toMatchObject({ name: 'StravaMissingScopeError', status: 401, retryable: false });
  });

  it('404 with a Fault body: StravaNotFoundError', async () => {
    const usages: RateUsage[] = [];
    const error = await failure(client.getActivity(accessToken, 999_999_999_999, { onRateUsage: (u) => usages.push(u) }));
    expect(error).toBeInstanceOf(StravaNotFoundError);
    expect(error).toMatchObject({ name: 'StravaNotFoundError', status: 404, retryable: false });
    expect(usages).toHaveLength(1); // headers are parsed on error responses too
  });

  it('429: StravaRateLimitedError carrying the time to the next 15-minute boundary', async () => {
    await emulator.control.setFaults({ force429ForMs: 60_000 });
    const usages: RateUsage[] = [];
    const error = await failure(client.getAthlete(accessToken, { onRateUsage: (u) => usages.push(u) }));
    expect(error).toBeInstanceOf(StravaRateLimitedError);
    expect(error).toMatchObject({ name: 'StravaRateLimitedError', status: 429, retryable: true });
    const now = emulator.now();
    const boundary = Math.ceil(now / 900_000) * 900_000;
    expect(error.retryAfterMs).toBeGreaterThan(boundary - now - 2_000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(boundary - now + 2_000);
    expect(usages).toHaveLength(1);
  });

  it('403 app inactive: StravaAppForbiddenError (app-wide, slow retry)', async () => {
    await emulator.control.setFaults({ appInactive: true });
    const error = await failure(client.getAthlete(accessToken));
    expect(error).toBeInstanceOf(StravaAppForbiddenError);
    expect(error).toMatchObject({ name: 'StravaAppForbiddenError', status: 403, retryable: true });
    expect(error.retryAfterMs).toBeGreaterThan(0);
  });

  it.each([500, 502, 503, 504] as const)('%i: StravaServerError, retryable', async (status) => {
    await emulator.control.setFaults({ apiErrorRate: 1, apiErrorStatus: status });
    const error = await failure(client.getAthlete(accessToken));
    expect(error).toBeInstanceOf(StravaServerError);
    expect(error).toMatchObject({ name: 'StravaServerError', status, retryable: true });
  });

  it('timeout: StravaServerError without a status', async () => {
    await emulator.control.setFaults({ apiLatencyMs: 400 });
    const slow = clientFor(emulator, { timeoutMs: 100 });
    const error = await failure(slow.getAthlete(accessToken));
    expect(error).toBeInstanceOf(StravaServerError);
    expect(error.status).toBeUndefined();
    expect(error.message).toMatch(/timed out/);
  });

  it("the caller's AbortSignal cancels the request and propagates as an abort", async () => {
    await emulator.control.setFaults({ apiLatencyMs: 400 });
    const controller = new AbortController();
    const pending = client.getAthlete(accessToken, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const error = await pending.catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(StravaError);
    expect((error as Error).name).toBe('AbortError');
  });

  it('network error (nothing listening): StravaServerError, retryable, no URL with secrets in it', async () => {
    const closed = await startEmulator();
    const dead = clientFor(closed);
    await closed.close();
    const error = await failure(dead.listPushSubscriptions());
    expect(error).toBeInstanceOf(StravaServerError);
    expect(error).toMatchObject({ status: undefined, retryable: true });
  });

  it('400 with Fault details: StravaBadRequestError (API parameter, bad code, bad refresh token)', async () => {
    const badPage = await failure(client.listAthleteActivities(accessToken, { page: -1 }));
    expect(badPage).toBeInstanceOf(StravaBadRequestError);
    expect(badPage).toMatchObject({ name: 'StravaBadRequestError', status: 400, retryable: false });
    expect(badPage.errors[0]).toMatchObject({ field: 'page', code: 'invalid' });

    const badCode = await failure(client.exchangeCode('no-such-code'));
    expect(badCode).toBeInstanceOf(StravaBadRequestError);
    expect(badCode.errors[0]).toMatchObject({ resource: 'AuthorizationCode', field: 'code' });
    expect(isInvalidRefreshTokenError(badCode)).toBe(false);

    const badRefresh = await failure(client.refreshToken('no-such-refresh-token'));
    expect(badRefresh).toBeInstanceOf(StravaBadRequestError);
    expect(isInvalidRefreshTokenError(badRefresh)).toBe(true);
  });
});

describe("Strava's recorded variants (emulator faults), handled like their documented twins", () => {
  it('401 {"resource":"Application","field":"","code":"invalid"} without rate headers: StravaTokenInvalidError', async () => {
    await emulator.control.setFaults({ unauthorizedVariant: 'application' });
    const usages: RateUsage[] = [];
    const error = await failure(client.getActivity('not-a-token', 1, { onRateUsage: (u) => usages.push(u) }));
    expect(error).toBeInstanceOf(StravaTokenInvalidError);
    expect(error).toMatchObject({ status: 401, retryable: false, kind: 'token_invalid' });
    expect(error.errors).toEqual([{ resource: 'Application', field: '', code: 'invalid' }]);
    expect(usages).toEqual([]); // nothing to feed the governor: the recorded response has no rate headers
  });

  it('404 with an empty body: StravaNotFoundError with no Fault details', async () => {
    await emulator.control.setFaults({ notFoundEmptyBody: true });
    const error = await failure(client.getActivity(accessToken, 999_999_999_999));
    expect(error).toBeInstanceOf(StravaNotFoundError);
    expect(error).toMatchObject({ status: 404, retryable: false, errors: [] });
    expect(error.message).toBe('Strava GET /activities/999999999999 answered 404');
  });

  it.each([
    ['expired', { resource: 'AuthorizationCode', field: '', code: 'expired' }],
    ['request_token', { resource: 'RequestToken', field: 'code', code: 'invalid' }],
  ] as const)('bad authorization code, %s shape: StravaBadRequestError, never taken for a bad refresh token', async (variant, fault) => {
    await emulator.control.setFaults({ badCodeVariant: variant });
    const error = await failure(client.exchangeCode('no-such-code'));
    expect(error).toBeInstanceOf(StravaBadRequestError);
    expect(error.errors).toEqual([fault]);
    expect(isInvalidRefreshTokenError(error)).toBe(false);
  });

  it('401 Application from /oauth/token (wrong client credentials): StravaAppForbiddenError, never token_invalid', async () => {
    await emulator.control.setFaults({ unauthorizedVariant: 'application' });
    const misconfigured = clientFor(emulator, { clientSecret: 'not-the-secret' });
    const refresh = await failure(misconfigured.refreshToken(refreshToken));
    expect(refresh).toBeInstanceOf(StravaAppForbiddenError);
    expect(refresh).toMatchObject({ status: 401, kind: 'app_forbidden', retryable: true });
    expect(isInvalidRefreshTokenError(refresh)).toBe(false);
    const exchange = await failure(misconfigured.exchangeCode('some-code'));
    expect(exchange).toBeInstanceOf(StravaAppForbiddenError);
    // The same variant on an API call is about the token: StravaTokenInvalidError (test above).
  });

  it('deauthorize reports the rate-limit headers it carries (counted like an API call)', async () => {
    const other = (await emulator.control.createAthlete({ activities: 1 })).id;
    const tokens = await emulator.control.issueTokens(other);
    secrets.push(tokens.accessToken, tokens.refreshToken);
    const before = await emulator.control.rateLimits();
    const usages: RateUsage[] = [];
    await client.deauthorize(tokens.accessToken, { onRateUsage: (u) => usages.push(u) });
    expect(usages).toHaveLength(1);
    expect(usages[0]!.overall!.usage.daily).toBe(before.usage.daily.overall + 1);
  });

  it('GET /athlete: the detailed athlete with profile:read_all parses and keeps its extra fields', async () => {
    const other = (await emulator.control.createAthlete({ activities: 3 })).id;
    const tokens = await emulator.control.issueTokens(other, 'read,profile:read_all,activity:read_all');
    secrets.push(tokens.accessToken, tokens.refreshToken);
    const athlete = await client.getAthlete(tokens.accessToken);
    expect(athlete).toMatchObject({ id: other, resource_state: 3 });
    expect(athlete).toHaveProperty('measurement_preference');
    expect((await client.getAthlete(accessToken)).resource_state).toBe(2);
  });
});

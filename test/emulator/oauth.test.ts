import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { apiGet, tokenCall } from './helpers.js';

const BAD_CODE = '{"message":"Bad Request","errors":[{"resource":"AuthorizationCode","field":"code","code":"invalid"}]}';
const BAD_REFRESH = '{"message":"Bad Request","errors":[{"resource":"RefreshToken","field":"refresh_token","code":"invalid"}]}';
const INVALID_TOKEN = '{"message":"Authorization Error","errors":[{"resource":"Athlete","field":"access_token","code":"invalid"}]}';
const HOUR_MS = 3600_000;

let emulator: RunningEmulator;

beforeAll(async () => {
  emulator = await startEmulator({ seed: 7 });
});
afterAll(async () => {
  await emulator.close();
});

function authorizeUrl(params: Record<string, string>): string {
  const url = new URL(`${emulator.oauthUrl}/authorize`);
  const all = { client_id: emulator.clientId, redirect_uri: 'http://app.test/callback', response_type: 'code', approval_prompt: 'auto', state: 'xyz', ...params };
  for (const [key, value] of Object.entries(all)) url.searchParams.set(key, value);
  return url.toString();
}

async function consent(params: Record<string, string>): Promise<{ status: number; location: URL }> {
  const response = await fetch(authorizeUrl(params), { redirect: 'manual' });
  await response.arrayBuffer();
  return { status: response.status, location: new URL(response.headers.get('location') ?? 'http://missing/') };
}

async function connect(athleteId: number, scope = 'read,activity:read_all') {
  const { location } = await consent({ scope, athlete_id: String(athleteId) });
  const code = location.searchParams.get('code')!;
  return tokenCall(emulator, { grant_type: 'authorization_code', code });
}

describe('GET /oauth/authorize', () => {
  it('auto-approves and redirects with state, code and the granted scope (commas kept literal)', async () => {
    const athlete = await emulator.control.createAthlete();
    const { status, location } = await consent({ scope: 'read,activity:read_all', athlete_id: String(athlete.id) });
    expect(status).toBe(302);
    expect(location.origin + location.pathname).toBe('http://app.test/callback');
    expect(location.searchParams.get('state')).toBe('xyz');
    expect(location.searchParams.get('code')).toMatch(/^[0-9a-f]{40}$/);
    expect(location.searchParams.get('scope')).toBe('read,activity:read_all');
    expect(location.search).toContain('scope=read,activity:read_all');
  });

  it('creates an athlete when none is named', async () => {
    const before = (await emulator.control.listAthletes()).length;
    const { location } = await consent({ scope: 'read' });
    const token = await tokenCall(emulator, { grant_type: 'authorization_code', code: location.searchParams.get('code')! });
    expect(token.status).toBe(200);
    expect((await emulator.control.listAthletes()).length).toBe(before + 1);
  });

  it('honours a scope subset the athlete left ticked, including none of the read scopes', async () => {
    const athlete = await emulator.control.createAthlete();
    const partial = await consent({ scope: 'read,activity:read_all', grant_scope: 'read', athlete_id: String(athlete.id) });
    expect(partial.location.searchParams.get('scope')).toBe('read');
    const none = await consent({ scope: 'read,activity:read_all', grant_scope: '', athlete_id: String(athlete.id) });
    expect(none.location.searchParams.get('scope')).toBe('');
    expect(none.location.searchParams.get('code')).toBeTruthy();
  });

  it('denial redirects with error=access_denied and no code', async () => {
    const { status, location } = await consent({ scope: 'read', approve: 'false' });
    expect(status).toBe(302);
    expect(location.searchParams.get('error')).toBe('access_denied');
    expect(location.searchParams.get('state')).toBe('xyz');
    expect(location.searchParams.has('code')).toBe(false);
  });

  it('rejects an unknown client_id and an unknown scope with Strava Faults', async () => {
    const badClient = await fetch(authorizeUrl({ client_id: '999' }), { redirect: 'manual' });
    expect(badClient.status).toBe(400);
    expect(await badClient.text()).toBe('{"message":"Bad Request","errors":[{"resource":"Application","field":"client_id","code":"invalid"}]}');
    const badScope = await fetch(authorizeUrl({ scope: 'read activity:read' }), { redirect: 'manual' });
    expect(badScope.status).toBe(400);
    expect(await badScope.text()).toBe('{"message":"Bad Request","errors":[{"resource":"Authorize","field":"scope","code":"invalid"}]}');
  });
});

describe('POST /oauth/token', () => {
  it('exchanges a code for Strava\'s exact token response, with no rate-limit headers', async () => {
    const athlete = await emulator.control.createAthlete({ firstname: 'Ada', lastname: 'Lovelace' });
    const nowS = Math.floor(emulator.now() / 1000);
    const { status, json, headers } = await connect(athlete.id);
    expect(status).toBe(200);
    expect(Object.keys(json)).toEqual(['token_type', 'expires_at', 'expires_in', 'refresh_token', 'access_token', 'athlete']);
    expect(json.token_type).toBe('Bearer');
    expect(json.expires_in).toBe(21600);
    expect(Math.abs((json.expires_at as number) - (nowS + 21600))).toBeLessThanOrEqual(1);
    expect(json.access_token).toMatch(/^[0-9a-f]{40}$/);
    expect(json.refresh_token).toMatch(/^[0-9a-f]{40}$/);
    expect(json.athlete).toMatchObject({ id: athlete.id, firstname: 'Ada', lastname: 'Lovelace', resource_state: 2 });
    expect(headers.get('x-ratelimit-usage')).toBeNull();
  });

  it('codes are single use', async () => {
    const athlete = await emulator.control.createAthlete();
    const { location } = await consent({ scope: 'read', athlete_id: String(athlete.id) });
    const code = location.searchParams.get('code')!;
    expect((await tokenCall(emulator, { grant_type: 'authorization_code', code })).status).toBe(200);
    const again = await tokenCall(emulator, { grant_type: 'authorization_code', code });
    expect(again.status).toBe(400);
    expect(again.text).toBe(BAD_CODE);
    const unknown = await tokenCall(emulator, { grant_type: 'authorization_code', code: 'nope' });
    expect(unknown.text).toBe(BAD_CODE);
  });

  it('rejects a bad client secret', async () => {
    const result = await tokenCall(emulator, { grant_type: 'refresh_token', refresh_token: 'x', client_secret: 'wrong' });
    expect(result.status).toBe(400);
    expect(result.text).toBe('{"message":"Bad Request","errors":[{"resource":"Application","field":"client_secret","code":"invalid"}]}');
  });

  it('refreshing with more than 1 h left returns the same access token with the time left', async () => {
    const athlete = await emulator.control.createAthlete();
    const first = (await connect(athlete.id)).json;
    await emulator.control.advanceClock(2 * HOUR_MS);
    const refreshed = await tokenCall(emulator, { grant_type: 'refresh_token', refresh_token: first.refresh_token as string });
    expect(refreshed.status).toBe(200);
    expect(Object.keys(refreshed.json)).toEqual(['token_type', 'access_token', 'expires_at', 'expires_in', 'refresh_token']);
    expect(refreshed.json.access_token).toBe(first.access_token);
    expect(refreshed.json.expires_at).toBe(first.expires_at);
    expect(Math.abs((refreshed.json.expires_in as number) - 4 * 3600)).toBeLessThanOrEqual(1);
  });

  it('with 1 h or less left a new access token is issued and the old one keeps working until it expires', async () => {
    const athlete = await emulator.control.createAthlete();
    const first = (await connect(athlete.id)).json;
    await emulator.control.advanceClock(5 * HOUR_MS + 1000);
    const refreshed = (await tokenCall(emulator, { grant_type: 'refresh_token', refresh_token: first.refresh_token as string })).json;
    expect(refreshed.access_token).not.toBe(first.access_token);
    expect(refreshed.expires_in).toBe(21600);
    expect((await apiGet(emulator, '/athlete', first.access_token as string)).status).toBe(200);
    expect((await apiGet(emulator, '/athlete', refreshed.access_token as string)).status).toBe(200);
    await emulator.control.advanceClock(HOUR_MS);
    const expired = await apiGet(emulator, '/athlete', first.access_token as string);
    expect(expired.status).toBe(401);
    expect(expired.text).toBe(INVALID_TOKEN);
    expect((await apiGet(emulator, '/athlete', refreshed.access_token as string)).status).toBe(200);
  });

  it('rotation "always" (the default): every refresh returns a new refresh token and the old one is invalid at once', async () => {
    const athlete = await emulator.control.createAthlete();
    const first = (await connect(athlete.id)).json;
    const second = (await tokenCall(emulator, { grant_type: 'refresh_token', refresh_token: first.refresh_token as string })).json;
    expect(second.refresh_token).not.toBe(first.refresh_token);
    const stale = await tokenCall(emulator, { grant_type: 'refresh_token', refresh_token: first.refresh_token as string });
    expect(stale.status).toBe(400);
    expect(stale.text).toBe(BAD_REFRESH);
    const third = await tokenCall(emulator, { grant_type: 'refresh_token', refresh_token: second.refresh_token as string });
    expect(third.status).toBe(200);
  });

  it('rotation "every 2nd" and "never"', async () => {
    await emulator.control.setRefreshRotation({ every: 2 });
    try {
      const athlete = await emulator.control.createAthlete();
      const r0 = (await connect(athlete.id)).json.refresh_token as string;
      const r1 = (await tokenCall(emulator, { grant_type: 'refresh_token', refresh_token: r0 })).json.refresh_token as string;
      expect(r1).toBe(r0);
      const r2 = (await tokenCall(emulator, { grant_type: 'refresh_token', refresh_token: r1 })).json.refresh_token as string;
      expect(r2).not.toBe(r1);
      expect((await tokenCall(emulator, { grant_type: 'refresh_token', refresh_token: r1 })).text).toBe(BAD_REFRESH);
      await emulator.control.setRefreshRotation('never');
      const r3 = (await tokenCall(emulator, { grant_type: 'refresh_token', refresh_token: r2 })).json.refresh_token;
      const r4 = (await tokenCall(emulator, { grant_type: 'refresh_token', refresh_token: r2 })).json.refresh_token;
      expect([r3, r4]).toEqual([r2, r2]);
    } finally {
      await emulator.control.setRefreshRotation('always'); // back to the default
    }
  });

  it('issueTokens (control client) connects an athlete with the requested scope', async () => {
    const athlete = await emulator.control.createAthlete();
    const tokens = await emulator.control.issueTokens(athlete.id, 'read,activity:read');
    expect(tokens.scope).toBe('read,activity:read');
    expect(tokens.expiresAt.getTime()).toBeGreaterThan(emulator.now());
    expect((await apiGet(emulator, '/athlete', tokens.accessToken)).json).toMatchObject({ id: athlete.id });
    expect((await emulator.control.getAthlete(athlete.id)).connected).toBe(true);
  });
});

describe('POST /oauth/deauthorize', () => {
  it('answers with the token, then every token of the athlete is refused', async () => {
    const athlete = await emulator.control.createAthlete();
    const tokens = await emulator.control.issueTokens(athlete.id);
    const response = await fetch(`${emulator.oauthUrl}/deauthorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ access_token: tokens.accessToken }),
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(JSON.stringify({ access_token: tokens.accessToken }));
    const after = await apiGet(emulator, '/athlete', tokens.accessToken);
    expect(after.status).toBe(401);
    expect(after.text).toBe(INVALID_TOKEN);
    expect((await tokenCall(emulator, { grant_type: 'refresh_token', refresh_token: tokens.refreshToken })).text).toBe(BAD_REFRESH);
  });

  it('a revocation from Strava\'s side kills the tokens too', async () => {
    const athlete = await emulator.control.createAthlete();
    const tokens = await emulator.control.issueTokens(athlete.id);
    expect(await emulator.control.revokeAthlete(athlete.id)).toBe(true);
    expect((await apiGet(emulator, '/athlete/activities', tokens.accessToken)).status).toBe(401);
    expect(await emulator.control.revokeAthlete(athlete.id)).toBe(false);
  });
});

describe('athletes created at the consent page', () => {
  it('get a generated history when consentAthleteActivities is set (the npm start demo)', async () => {
    const demo = await startEmulator({ seed: 11, consentAthleteActivities: 7 });
    try {
      const url = new URL(`${demo.oauthUrl}/authorize`);
      for (const [key, value] of Object.entries({ client_id: demo.clientId, redirect_uri: 'http://app.test/cb', response_type: 'code', scope: 'read,activity:read_all', state: 's' })) {
        url.searchParams.set(key, value);
      }
      const consentResponse = await fetch(url, { redirect: 'manual' });
      const code = new URL(consentResponse.headers.get('location')!).searchParams.get('code')!;
      const tokens = (await tokenCall(demo, { grant_type: 'authorization_code', code })).json as { access_token: string; athlete: { id: number } };
      const list = await apiGet(demo, '/athlete/activities?per_page=200', tokens.access_token);
      expect(list.status).toBe(200);
      expect(list.json).toHaveLength(7);
      expect(await demo.control.groundTruth(tokens.athlete.id)).toHaveLength(7);
    } finally {
      await demo.close();
    }
  });
});

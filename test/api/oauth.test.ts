import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { getAthlete } from '../../src/db/repositories/athletes.js';
import { createOAuthState } from '../../src/api/auth/oauth-state.js';
import { OAUTH_COOKIE } from '../../src/api/auth/oauth-browser-binding.js';
import { athleteWorkflowId } from '../../src/temporal/athlete-gateway.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { startApi, startWorker, STATE_SECRET, uniqueAthleteId, waitFor, type ApiHarness } from './helpers/api-harness.js';
import { testBrowser, type TestBrowser } from './helpers/browser.js';

const db = useTestDatabase();

describe('OAuth connect through the emulator', () => {
  let dev: DevServerHandles;
  let emulator: RunningEmulator;
  let api: ApiHarness;
  let worker: { stop(): Promise<void> };

  beforeAll(async () => {
    [dev, emulator] = await Promise.all([connectDevServer(), startEmulator({ seed: 6 })]);
    api = await startApi({ db, dev, emulator, env: { ALLOWED_RETURN_ORIGINS: 'https://app.example.com' } });
    worker = await startWorker(api, dev, db.sql, emulator);
  });
  afterAll(async () => {
    await worker?.stop();
    await api?.stop();
    await emulator?.close();
    await dev?.close();
  });

  /**
   * A new browser asks the API for the consent URL (getting the OAuth cookie), then goes through the emulator's
   * consent page; returns the callback URL Strava sent it to and the browser, to follow it with its cookie.
   */
  async function consent(returnTo: string | undefined, extra: Record<string, string>): Promise<{ callback: URL; browser: TestBrowser }> {
    const browser = testBrowser();
    const start = await browser.fetch(`${api.url}/auth/strava${returnTo ? `?return_to=${encodeURIComponent(returnTo)}` : ''}`);
    expect(start.status).toBe(302);
    const authorize = new URL(start.headers.get('location')!);
    for (const [key, value] of Object.entries(extra)) authorize.searchParams.set(key, value);
    const page = await browser.fetch(authorize);
    expect(page.status).toBe(302);
    return { callback: new URL(page.headers.get('location')!), browser };
  }

  it('redirects to the consent page asking read,activity:read_all with a signed state', async () => {
    const response = await api.fetch('/auth/strava');
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(`${emulator.oauthUrl}/authorize`);
    expect(location.searchParams.get('scope')).toBe('read,activity:read_all');
    expect(location.searchParams.get('client_id')).toBe(emulator.clientId);
    expect(location.searchParams.get('redirect_uri')).toBe(`${api.url}/auth/strava/callback`);
    expect(location.searchParams.get('state')).toMatch(/^[\w-]+\.[\w-]+$/);
  });

  it('connects an athlete end to end: tokens stored encrypted, workflow started, history imported', async () => {
    const athleteId = uniqueAthleteId();
    await emulator.control.createAthlete({ id: athleteId, activities: 12 });
    const { callback, browser } = await consent('/connected', { athlete_id: String(athleteId) });
    expect(callback.pathname).toBe('/auth/strava/callback');
    const done = await browser.fetch(callback);
    expect(done.status).toBe(303);
    const back = new URL(done.headers.get('location')!);
    expect(back.origin).toBe(api.url);
    expect(back.pathname).toBe('/connected');
    expect(back.searchParams.get('strava')).toBe('connected');
    expect(back.searchParams.get('athlete_id')).toBe(String(athleteId));

    const athlete = await getAthlete(db.sql, athleteId);
    expect(athlete?.scopes).toEqual(['read', 'activity:read_all']);
    // Stored encrypted: the vault decrypts a token that appears nowhere in plain text in the row.
    const accessToken = await api.strava.vault.getAccessToken(athleteId);
    const [row] = await db.sql<{ access: Buffer; refresh: Buffer }[]>`
      select access_token_enc as access, refresh_token_enc as refresh from tokens where athlete_id = ${athleteId}`;
    expect(row!.access.includes(Buffer.from(accessToken))).toBe(false);
    expect(row!.refresh.includes(Buffer.from(accessToken))).toBe(false);

    const description = await dev.client.workflow.getHandle(athleteWorkflowId(athleteId)).describe();
    expect(description.status.name).toBe('RUNNING');
    const truth = await emulator.control.groundTruth(athleteId, { readAll: true });
    const imported = await waitFor(
      async () => (await db.sql<{ n: number }[]>`select count(*)::int as n from activities where athlete_id = ${athleteId}`)[0]!.n,
      (n) => n === truth.length,
      { timeoutMs: 30_000, what: 'the history import' },
    );
    expect(imported).toBe(12);

    const page = await api.fetch(`/athletes/${athleteId}/activities?limit=200`, { admin: true });
    expect(page.status).toBe(200);
    const body = (await page.json()) as { activities: { id: number }[] };
    expect(body.activities.map((a) => a.id).sort()).toEqual(truth.map((a) => a.id).sort());
    await dev.client.workflow.getHandle(athleteWorkflowId(athleteId)).terminate('test done');
  });

  it('answers JSON without return_to', async () => {
    const athleteId = uniqueAthleteId();
    const { callback, browser } = await consent(undefined, { athlete_id: String(athleteId) });
    const done = await browser.fetch(callback);
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({ athleteId, status: 'connected', workflowId: athleteWorkflowId(athleteId), reconnected: false });
    await dev.client.workflow.getHandle(athleteWorkflowId(athleteId)).terminate('test done');
  });

  it('rejects a replayed state (the same callback twice)', async () => {
    const athleteId = uniqueAthleteId();
    const { callback, browser } = await consent(undefined, { athlete_id: String(athleteId) });
    const cookie = browser.cookies(api.url).get(OAUTH_COOKIE)!;
    expect((await browser.fetch(callback)).status).toBe(200);
    // The browser itself no longer holds the cookie; a replay that kept a copy of it meets the one-use state.
    expect(browser.cookies(api.url).has(OAUTH_COOKIE)).toBe(false);
    const replay = await fetch(callback, { redirect: 'manual', headers: { cookie: `${OAUTH_COOKIE}=${cookie.value}` } });
    expect(replay.status).toBe(400);
    expect(await replay.json()).toEqual({ error: { code: 'invalid_state', message: expect.stringContaining('already used') } });
    await dev.client.workflow.getHandle(athleteWorkflowId(athleteId)).terminate('test done');
  });

  describe('the state is bound to the browser that started the flow', () => {
    it('sets an HttpOnly, SameSite=Lax cookie for the callback path only, living as long as the state', async () => {
      const start = await api.fetch('/auth/strava');
      const [cookie, ...others] = start.headers.getSetCookie();
      expect(others).toEqual([]);
      expect(cookie).toMatch(new RegExp(`^${OAUTH_COOKIE}=[\\w-]{43};`));
      const attributes = cookie!.split(';').slice(1).map((a) => a.trim().toLowerCase());
      expect(attributes).toEqual(expect.arrayContaining(['path=/auth/strava/callback', 'httponly', 'samesite=lax', 'max-age=600']));
      // PUBLIC_URL is http:// here: a Secure cookie would never come back.
      expect(attributes).not.toContain('secure');
    });

    it('the normal flow: the cookie goes back with the callback, which clears it', async () => {
      const athleteId = uniqueAthleteId();
      const { callback, browser } = await consent(undefined, { athlete_id: String(athleteId) });
      expect(browser.cookies(api.url).has(OAUTH_COOKIE)).toBe(true);
      const done = await browser.fetch(callback);
      expect(done.status).toBe(200);
      expect(done.headers.getSetCookie().join()).toMatch(new RegExp(`^${OAUTH_COOKIE}=;.*Path=/auth/strava/callback;.*Expires=Thu, 01 Jan 1970`));
      expect(browser.cookies(api.url).has(OAUTH_COOKIE)).toBe(false);
      await dev.client.workflow.getHandle(athleteWorkflowId(athleteId)).terminate('test done');
    });

    it('refuses a callback without the cookie (a link from someone else), connects nothing, keeps the state usable', async () => {
      const athleteId = uniqueAthleteId();
      const { callback, browser } = await consent(undefined, { athlete_id: String(athleteId) });
      const elsewhere = await fetch(callback, { redirect: 'manual' });
      expect(elsewhere.status).toBe(400);
      expect(await elsewhere.json()).toEqual({ error: { code: 'invalid_state', message: expect.stringContaining('did not start this connect flow') } });
      expect(await getAthlete(db.sql, athleteId)).toBeUndefined();
      // The browser that started it can still finish: the refusal did not consume the state.
      expect((await browser.fetch(callback)).status).toBe(200);
      await dev.client.workflow.getHandle(athleteWorkflowId(athleteId)).terminate('test done');
    });

    it("refuses a callback carrying another browser's cookie (login CSRF: the attacker's state, the victim's browser)", async () => {
      const victimAthlete = uniqueAthleteId();
      const attackerAthlete = uniqueAthleteId();
      const victim = await consent(undefined, { athlete_id: String(victimAthlete) });
      const attacker = await consent(undefined, { athlete_id: String(attackerAthlete) });
      const planted = await victim.browser.fetch(attacker.callback);
      expect(planted.status).toBe(400);
      expect(await planted.json()).toEqual({ error: { code: 'invalid_state', message: expect.stringContaining('another browser') } });
      expect(await getAthlete(db.sql, attackerAthlete)).toBeUndefined();
    });
  });

  it('rejects a tampered state: changed payload, foreign signature, garbage', async () => {
    const { callback, browser } = await consent('/x', { athlete_id: String(uniqueAthleteId()) });
    const state = callback.searchParams.get('state')!;
    const [body, signature] = state.split('.');
    const payload = JSON.parse(Buffer.from(body!, 'base64url').toString()) as { r: string };
    payload.r = 'https://evil.example.net/steal';
    const forged = `${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${signature}`;
    const foreign = createOAuthState('some-other-secret-0123456789', null, 60_000, Date.now());
    for (const bad of [forged, foreign, 'garbage', `${body}.${signature}.x`]) {
      const url = new URL(callback);
      url.searchParams.set('state', bad);
      const response = await browser.fetch(url);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('invalid_state');
    }
  });

  it('rejects an expired state', async () => {
    const { callback, browser } = await consent(undefined, { athlete_id: String(uniqueAthleteId()) });
    api.clock.offsetMs = 11 * 60_000;
    try {
      const response = await browser.fetch(callback);
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({ error: { code: 'invalid_state', message: expect.stringContaining('expired') } });
    } finally {
      api.clock.offsetMs = 0;
    }
  });

  it('a state signed with the server secret but past its expiry is refused too', async () => {
    const stale = createOAuthState(STATE_SECRET, null, 1_000, Date.now() - 60_000);
    const response = await api.fetch(`/auth/strava/callback?state=${stale}&code=abc&scope=read,activity:read_all`);
    expect(response.status).toBe(400);
  });

  it('explains a denied consent and stores nothing', async () => {
    const athleteId = uniqueAthleteId();
    const { callback, browser } = await consent(undefined, { athlete_id: String(athleteId), approve: 'false' });
    expect(callback.searchParams.get('error')).toBe('access_denied');
    const response = await browser.fetch(callback);
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({ error: { code: 'access_denied', message: expect.stringContaining('declined') } });
    expect(await getAthlete(db.sql, athleteId)).toBeUndefined();
  });

  it('explains a grant without an activity scope; the athlete is not connected', async () => {
    const athleteId = uniqueAthleteId();
    const { callback, browser } = await consent(undefined, { athlete_id: String(athleteId), grant_scope: 'read' });
    expect(callback.searchParams.get('scope')).toBe('read');
    const response = await browser.fetch(callback);
    expect(response.status).toBe(403);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('insufficient_scope');
    expect(body.error.message).toMatch(/activity:read/);
    expect(await getAthlete(db.sql, athleteId)).toBeUndefined();
    expect((await db.sql`select 1 from tokens where athlete_id = ${athleteId}`).count).toBe(0);
  });

  it('with return_to, a refusal goes back to the client app with the error code', async () => {
    const { callback, browser } = await consent('https://app.example.com/after', { athlete_id: String(uniqueAthleteId()), grant_scope: 'read' });
    const response = await browser.fetch(callback);
    expect(response.status).toBe(303);
    const back = new URL(response.headers.get('location')!);
    expect(back.origin).toBe('https://app.example.com');
    expect(back.searchParams.get('strava')).toBe('error');
    expect(back.searchParams.get('error')).toBe('insufficient_scope');
  });

  it('accepts activity:read alone', async () => {
    const athleteId = uniqueAthleteId();
    // As if the athlete were asked for (and granted) activity:read only: the state does not bind the scope.
    const { callback, browser } = await consent(undefined, { athlete_id: String(athleteId), scope: 'read,activity:read' });
    const response = await browser.fetch(callback);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ athleteId, scopes: ['read', 'activity:read'] });
    await dev.client.workflow.getHandle(athleteWorkflowId(athleteId)).terminate('test done');
  });

  it('refuses return_to outside the allowed origins (no open redirect)', async () => {
    for (const target of ['https://evil.example.net/', '//evil.example.net/x', 'javascript:alert(1)']) {
      const response = await api.fetch(`/auth/strava?return_to=${encodeURIComponent(target)}`);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('invalid_return_to');
    }
    expect((await api.fetch(`/auth/strava?return_to=${encodeURIComponent('https://app.example.com/x')}`)).status).toBe(302);
  });

  it('rejects a callback without state', async () => {
    const response = await api.fetch('/auth/strava/callback?code=abc');
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
  });

  it('never logs the code, the state or tokens', async () => {
    const logs = api.logs.join('');
    expect(logs).not.toMatch(/code=/);
    expect(logs).not.toMatch(/state=/);
    expect(logs).not.toMatch(/access_token|refresh_token/);
  });
});

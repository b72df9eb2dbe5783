import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAthlete } from '../../src/db/repositories/athletes.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { athleteWorkflowId } from '../../src/temporal/athlete-gateway.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { storedActivities, truthActivities } from '../integration/helpers/ground-truth.js';
import { startApi, startWorker, uniqueAthleteId, waitFor, type ApiHarness } from './helpers/api-harness.js';
import { testBrowser, type TestBrowser } from './helpers/browser.js';

/**
 * The OAuth callback against Strava's variants (emulator faults): every documented shape of a refused
 * authorization code, Strava refusing the application's own credentials, and an athlete who unticks "private
 * activities" on the consent page. Real API on a real port, the shared Temporal dev server, a worker, PostgreSQL.
 */

const db = useTestDatabase();
const RETURN_ORIGIN = 'https://app.example.com';

describe("OAuth callback and Strava's variants", () => {
  let dev: DevServerHandles;
  let emulator: RunningEmulator;
  let api: ApiHarness;
  /** The same service with a client secret Strava does not accept (rotated at Strava, mistyped in the env). */
  let misconfigured: ApiHarness;
  let worker: { stop(): Promise<void> };
  const started: number[] = [];

  beforeAll(async () => {
    [dev, emulator] = await Promise.all([connectDevServer(), startEmulator({ seed: 61 })]);
    api = await startApi({ db, dev, emulator, env: { ALLOWED_RETURN_ORIGINS: RETURN_ORIGIN } });
    misconfigured = await startApi({ db, dev, emulator, env: { ALLOWED_RETURN_ORIGINS: RETURN_ORIGIN, STRAVA_CLIENT_SECRET: 'a-rotated-client-secret' } });
    worker = await startWorker(api, dev, db.sql, emulator);
  });
  afterAll(async () => {
    for (const id of started) await dev?.client.workflow.getHandle(athleteWorkflowId(id)).terminate('test done').catch(() => {});
    await worker?.stop();
    await api?.stop();
    await misconfigured?.stop();
    await emulator?.close();
    await dev?.close();
  });

  /** A browser starts the flow at `harness`, goes through the emulator's consent page, and is sent back. */
  async function consent(harness: ApiHarness, extra: Record<string, string>, returnTo?: string): Promise<{ callback: URL; browser: TestBrowser }> {
    const browser = testBrowser();
    const start = await browser.fetch(`${harness.url}/auth/strava${returnTo ? `?return_to=${encodeURIComponent(returnTo)}` : ''}`);
    expect(start.status).toBe(302);
    const authorize = new URL(start.headers.get('location')!);
    for (const [key, value] of Object.entries(extra)) authorize.searchParams.set(key, value);
    const page = await browser.fetch(authorize);
    expect(page.status).toBe(302);
    return { callback: new URL(page.headers.get('location')!), browser };
  }

  async function connect(athleteId: number, extra: Record<string, string> = {}): Promise<{ scopes: string[] }> {
    const { callback, browser } = await consent(api, { athlete_id: String(athleteId), ...extra });
    const response = await browser.fetch(callback);
    expect(response.status).toBe(200);
    started.push(athleteId);
    return (await response.json()) as { scopes: string[] };
  }

  const tokenRows = async (athleteId: number) => (await db.sql`select 1 from tokens where athlete_id = ${athleteId}`).count;
  const privateRows = async (athleteId: number) => (await storedActivities(db.sql, athleteId)).filter((r) => r.private).length;
  const tokenRequests = async (status: number) => (await emulator.control.counters()).requests['POST /oauth/token']?.[String(status)] ?? 0;

  async function imported(athleteId: number): Promise<void> {
    await waitFor(
      async () => [(await storedActivities(db.sql, athleteId)).map((r) => r.id), (await truthActivities(emulator, athleteId)).map((r) => r.id)],
      ([rows, truth]) => JSON.stringify(rows) === JSON.stringify(truth),
      { timeoutMs: 40_000, what: 'the history import' },
    );
  }

  describe('a refused authorization code, in each shape Strava has been seen to send', () => {
    it.each([
      ['invalid', 'AuthorizationCode code invalid'],
      ['expired', 'AuthorizationCode expired'],
      ['request_token', 'RequestToken code invalid'],
    ] as const)('%s -> 400 invalid_code, nothing stored', async (variant, fault) => {
      await emulator.control.setFaults({ badCodeVariant: variant });
      try {
        const athleteId = uniqueAthleteId();
        const { callback, browser } = await consent(api, { athlete_id: String(athleteId) });
        callback.searchParams.set('code', 'c0ffee'.repeat(6) + 'c0de');
        const refusedBefore = await tokenRequests(400);
        const logsBefore = api.logs.length;
        const response = await browser.fetch(callback);
        expect(response.status).toBe(400);
        expect(await response.json()).toEqual({ error: { code: 'invalid_code', message: expect.stringContaining('refused the authorization code') } });
        expect(await tokenRequests(400)).toBe(refusedBefore + 1);
        expect(await getAthlete(db.sql, athleteId)).toBeUndefined();
        expect(await tokenRows(athleteId)).toBe(0);
        // The warning names Strava's Fault (the shape really was served), never the code itself.
        const logs = api.logs.slice(logsBefore).join('');
        expect(logs).toContain(fault);
        expect(logs).not.toContain('c0ffee');
      } finally {
        await emulator.control.setFaults({ badCodeVariant: 'invalid' });
      }
    });

    it('a code used twice (the expired shape of stravalib #190) -> invalid_code for the second callback only', async () => {
      await emulator.control.setFaults({ badCodeVariant: 'expired' });
      try {
        const athleteId = uniqueAthleteId();
        const first = await consent(api, { athlete_id: String(athleteId) });
        const second = await consent(api, { athlete_id: String(athleteId) });
        second.callback.searchParams.set('code', first.callback.searchParams.get('code')!);
        expect((await first.browser.fetch(first.callback)).status).toBe(200);
        started.push(athleteId);
        const replay = await second.browser.fetch(second.callback);
        expect(replay.status).toBe(400);
        expect(((await replay.json()) as { error: { code: string } }).error.code).toBe('invalid_code');
        expect((await getAthlete(db.sql, athleteId))?.state).not.toBe('revoked');
        expect(await tokenRows(athleteId)).toBe(1);
      } finally {
        await emulator.control.setFaults({ badCodeVariant: 'invalid' });
      }
    });
  });

  describe("Strava refuses the application's credentials at the code exchange", () => {
    it.each([
      ['application', 401],
      ['athlete', 400],
    ] as const)('%s variant (%i from /oauth/token) -> 503 service_misconfigured, never invalid_code, nothing stored', async (variant, status) => {
      await emulator.control.setFaults({ unauthorizedVariant: variant });
      try {
        const athleteId = uniqueAthleteId();
        const { callback, browser } = await consent(misconfigured, { athlete_id: String(athleteId) });
        const before = await tokenRequests(status);
        const response = await browser.fetch(callback);
        expect(response.status).toBe(503);
        const body = (await response.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe('service_misconfigured');
        expect(body.error.message).toMatch(/misconfigured/);
        expect(body.error.message).not.toMatch(/authorization code/);
        expect(await tokenRequests(status)).toBe(before + 1);
        expect(await getAthlete(db.sql, athleteId)).toBeUndefined();
        expect(await tokenRows(athleteId)).toBe(0);
        // An error for the operators (pino level 50), without the secret.
        const lines = misconfigured.logs.map((line) => JSON.parse(line) as { level: number; msg: string });
        expect(lines.some((line) => line.level === 50 && /application credentials/.test(line.msg))).toBe(true);
        expect(misconfigured.logs.join('')).not.toContain('a-rotated-client-secret');
      } finally {
        await emulator.control.setFaults({ unauthorizedVariant: 'athlete' });
      }
    });

    it('with return_to the browser goes back to the client app with error=service_misconfigured', async () => {
      await emulator.control.setFaults({ unauthorizedVariant: 'application' });
      try {
        const { callback, browser } = await consent(misconfigured, { athlete_id: String(uniqueAthleteId()) }, `${RETURN_ORIGIN}/after`);
        const response = await browser.fetch(callback);
        expect(response.status).toBe(303);
        const back = new URL(response.headers.get('location')!);
        expect(back.origin).toBe(RETURN_ORIGIN);
        expect(back.searchParams.get('strava')).toBe('error');
        expect(back.searchParams.get('error')).toBe('service_misconfigured');
      } finally {
        await emulator.control.setFaults({ unauthorizedVariant: 'athlete' });
      }
    });

    it('a connected athlete reconnecting meanwhile keeps their tokens, activities and workflow: no purge', async () => {
      const athleteId = uniqueAthleteId();
      await emulator.control.createAthlete({ id: athleteId, activities: 8 });
      await connect(athleteId);
      await imported(athleteId);
      const [tokensBefore] = await db.sql`select access_token_enc, refresh_token_enc from tokens where athlete_id = ${athleteId}`;
      await emulator.control.setFaults({ unauthorizedVariant: 'application' });
      try {
        const { callback, browser } = await consent(misconfigured, { athlete_id: String(athleteId) });
        expect((await browser.fetch(callback)).status).toBe(503);
      } finally {
        await emulator.control.setFaults({ unauthorizedVariant: 'athlete' });
      }
      const [tokensAfter] = await db.sql`select access_token_enc, refresh_token_enc from tokens where athlete_id = ${athleteId}`;
      expect(tokensAfter).toEqual(tokensBefore);
      expect((await storedActivities(db.sql, athleteId)).length).toBe(8);
      expect((await getAthlete(db.sql, athleteId))?.state).not.toMatch(/revoked|needs_reauth/);
      expect((await dev.client.workflow.getHandle(athleteWorkflowId(athleteId)).describe()).status.name).toBe('RUNNING');
    });
  });

  describe('consent narrower than asked: the athlete unticks "private activities"', () => {
    it('records read,activity:read and never stores an "Only You" activity', async () => {
      const athleteId = uniqueAthleteId();
      await emulator.control.createAthlete({ id: athleteId, activities: 30 });
      const hidden = await emulator.control.createActivity(athleteId, { name: 'Only me', visibility: 'only_me', private: true });

      const body = await connect(athleteId, { grant_scope: 'read,activity:read' });

      expect(body.scopes).toEqual(['read', 'activity:read']);
      expect((await getAthlete(db.sql, athleteId))?.scopes).toEqual(['read', 'activity:read']);
      await imported(athleteId);
      const stored = await storedActivities(db.sql, athleteId);
      const everything = await emulator.control.groundTruth(athleteId, { readAll: true });
      expect(everything.filter((a) => a.private).length).toBeGreaterThanOrEqual(1);
      expect(stored.length).toBe(everything.length - everything.filter((a) => a.private).length);
      expect(stored.some((r) => r.id === hidden.id)).toBe(false);
      expect(await privateRows(athleteId)).toBe(0);
    });

    it('reconnecting without "private activities" deletes the "Only You" activities an earlier grant stored', async () => {
      const athleteId = uniqueAthleteId();
      await emulator.control.createAthlete({ id: athleteId, activities: 30 });
      await emulator.control.createActivity(athleteId, { name: 'Only me', visibility: 'only_me', private: true });
      expect((await connect(athleteId)).scopes).toEqual(['read', 'activity:read_all']);
      await imported(athleteId);
      const before = await storedActivities(db.sql, athleteId);
      expect(before.filter((r) => r.private).length).toBeGreaterThanOrEqual(1);

      expect((await connect(athleteId, { grant_scope: 'read,activity:read' })).scopes).toEqual(['read', 'activity:read']);

      // In the callback's transaction: gone before the browser is answered.
      const after = await storedActivities(db.sql, athleteId);
      expect(after.filter((r) => r.private)).toEqual([]);
      expect(after).toEqual(before.filter((r) => !r.private));
      expect(after).toEqual(await truthActivities(emulator, athleteId));
      // Syncing with the narrower tokens brings none of them back.
      const sync = await api.fetch(`/athletes/${athleteId}/sync`, { method: 'POST', admin: true });
      expect(sync.status).toBe(200);
      expect(await privateRows(athleteId)).toBe(0);
      expect(await storedActivities(db.sql, athleteId)).toEqual(await truthActivities(emulator, athleteId));
    });

    it('a grant with no activity scope at all (everything unticked) is refused clearly at connect', async () => {
      const athleteId = uniqueAthleteId();
      const { callback, browser } = await consent(api, { athlete_id: String(athleteId), grant_scope: '' });
      expect(callback.searchParams.get('scope')).toBe('');
      const response = await browser.fetch(callback);
      expect(response.status).toBe(403);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('insufficient_scope');
      expect(body.error.message).toMatch(/activity:read/);
      expect(await getAthlete(db.sql, athleteId)).toBeUndefined();
      expect(await tokenRows(athleteId)).toBe(0);
    });
  });
});

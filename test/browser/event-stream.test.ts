import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { publishChange } from '../../src/db/change-feed.js';
import { upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { browserTest } from '../helpers/browser.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { ADMIN_KEY, startApi, uniqueAthleteId, type ApiHarness } from '../api/helpers/api-harness.js';

/**
 * Issue 13, in a real Chromium: a page opens the athlete's change stream with the browser's own EventSource and a
 * client token (?access_token=, the only way EventSource can authenticate), the API server goes away (the page is
 * offline), changes happen meanwhile, a new API instance comes up on the same address, and the browser, by itself,
 * reconnects with Last-Event-ID and receives exactly the changes it missed, then the live ones.
 */
const db = useTestDatabase();

interface PageState {
  changes: { lastEventId: string; id: number; athleteId: number }[];
  readies: { lastEventId: string; data: { resumedFrom?: number; head: number } }[];
  errors: number;
}

describe('the change stream in a browser', () => {
  let dev: DevServerHandles;
  let api: ApiHarness;
  let athlete: number;
  let other: number;

  beforeAll(async () => {
    dev = await connectDevServer();
    api = await startApi({ db, dev });
    athlete = uniqueAthleteId();
    other = uniqueAthleteId();
    await upsertConnectedAthlete(db.sql, athlete, ['read']);
    await upsertConnectedAthlete(db.sql, other, ['read']);
  });
  afterAll(async () => {
    await api?.stop();
    await dev?.close();
  });

  browserTest('EventSource with a client token comes back after an API restart with exactly the missed changes', async (chromiumPath) => {
    const minted = await api.fetch(`/athletes/${athlete}/client-tokens`, {
      method: 'POST',
      admin: true,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ abilities: ['events'], ttlSeconds: 600 }),
    });
    const { token } = (await minted.json()) as { token: string };
    const publish = (athleteId: number) => publishChange(db.sql, { athleteId, kind: 'activities_upserted', activityIds: [1], count: 1 });

    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      // A page of the API's own origin (its JSON liveness answer will do): the stream is then same-origin.
      await page.goto(`${api.url}/healthz`);
      // The page's script (plain JavaScript: it runs in the browser, not under this file's types).
      const path = `/athletes/${athlete}/events?access_token=${encodeURIComponent(token)}`;
      await page.evaluate(`
        window.stream = { changes: [], readies: [], errors: 0 };
        const source = new EventSource(${JSON.stringify(path)});
        source.addEventListener('ready', (event) => {
          window.stream.readies.push({ lastEventId: event.lastEventId, data: JSON.parse(event.data) });
        });
        source.addEventListener('change', (event) => {
          const change = JSON.parse(event.data);
          window.stream.changes.push({ lastEventId: event.lastEventId, id: change.id, athleteId: change.athleteId });
        });
        source.addEventListener('error', () => { window.stream.errors += 1; });
      `);
      const state = () => page.evaluate('window.stream') as Promise<PageState>;
      await expect.poll(async () => (await state()).readies.length, { timeout: 10_000 }).toBe(1);

      const seenOnline = await publish(athlete);
      await expect.poll(async () => (await state()).changes.map((c) => c.id), { timeout: 10_000 }).toEqual([seenOnline]);

      // Offline: the server stops (the stream ends), changes happen, a new API instance starts on the same address.
      const port = api.server.port;
      const firstLogs = api.logs;
      await api.stop();
      await expect.poll(async () => (await state()).errors, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
      const missed = [await publish(athlete), await publish(other), await publish(athlete)];
      api = await startApi({ db, dev, port });

      // EventSource reconnects by itself (after the server's `retry: 3000`), sending Last-Event-ID.
      await expect.poll(async () => (await state()).readies.length, { timeout: 20_000 }).toBe(2);
      const live = await publish(athlete);
      await expect.poll(async () => (await state()).changes.length, { timeout: 10_000 }).toBe(4);

      const final = await state();
      expect(final.readies[1]!.data.resumedFrom).toBe(seenOnline);
      expect(final.changes.map((c) => c.id)).toEqual([seenOnline, missed[0], missed[2], live]);
      expect(final.changes.every((c) => c.athleteId === athlete && c.lastEventId === String(c.id))).toBe(true);
      // The token travelled in the URL: neither API instance wrote it to its log (a stream is logged when it ends).
      await api.stop();
      const logs = [...firstLogs, ...api.logs].join('\n');
      expect(logs).toContain(`/athletes/${athlete}/events`);
      expect(logs).not.toContain(token);
    } finally {
      await browser.close();
    }
  }, 90_000);

  browserTest("a page of another origin listed in CLIENT_ORIGINS reads the athlete's routes and stream (CORS); others cannot", async (chromiumPath) => {
    // The app's page is served from its own origin (another port on the loopback).
    const page = '<!doctype html><title>app</title>';
    const servePage = () =>
      new Promise<{ server: Server; origin: string }>((resolve) => {
        const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page));
        server.listen(0, '127.0.0.1', () => resolve({ server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
      });
    const [app, stranger] = [await servePage(), await servePage()];
    const corsApi = await startApi({ db, dev, env: { CLIENT_ORIGINS: app.origin } });
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
    try {
      const minted = await corsApi.fetch(`/athletes/${athlete}/client-tokens`, {
        method: 'POST',
        admin: true,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ abilities: ['read', 'events'] }),
      });
      const { token } = (await minted.json()) as { token: string };
      const script = (base: string) => `(async () => {
        const call = async (path) => {
          try {
            const response = await fetch(${JSON.stringify(base)} + path, { headers: { authorization: 'Bearer ${token}', 'last-event-id': '0' } });
            return { status: response.status, body: await response.json() };
          } catch (error) {
            return { failed: String(error) };
          }
        };
        const ready = await new Promise((resolve) => {
          const source = new EventSource(${JSON.stringify(base)} + '/athletes/${athlete}/events?access_token=${token}');
          source.addEventListener('ready', (event) => { source.close(); resolve(JSON.parse(event.data).athleteId); });
          source.addEventListener('error', () => { source.close(); resolve('error'); });
        });
        return { status: await call('/athletes/${athlete}'), other: await call('/athletes/${other}'), ready };
      })()`;

      const tab = await browser.newPage();
      await tab.goto(app.origin);
      const allowed = (await tab.evaluate(script(corsApi.url))) as { status: { status: number; body: { athleteId: number } }; other: { status: number; body: { error: { code: string } } }; ready: unknown };
      expect(allowed.status).toEqual({ status: 200, body: expect.objectContaining({ athleteId: athlete }) });
      // A refusal is readable too (the CORS headers are set before authentication).
      expect(allowed.other).toEqual({ status: 403, body: { error: { code: 'forbidden', message: expect.any(String) } } });
      expect(allowed.ready).toBe(athlete);

      await tab.goto(stranger.origin);
      const refused = (await tab.evaluate(script(corsApi.url))) as { status: { failed?: string }; ready: unknown };
      expect(refused.status.failed).toMatch(/Failed to fetch/);
      expect(refused.ready).toBe('error');
    } finally {
      await browser.close();
      await corsApi.stop();
      for (const { server } of [app, stranger]) await new Promise((resolve) => server.close(resolve));
    }
  }, 60_000);
});

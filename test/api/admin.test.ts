import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { purgeAthlete, upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { athleteWorkflowId } from '../../src/temporal/athlete-gateway.js';
import { browserTest } from '../helpers/browser.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { ADMIN_KEY, connectAthlete, startApi, startWorker, uniqueAthleteId, waitFor, type ApiHarness } from './helpers/api-harness.js';

const db = useTestDatabase();

interface AdminAthlete {
  athleteId: number;
  state: string;
  workflowId: string;
  temporalUiUrl: string | null;
}

describe('admin routes', () => {
  let dev: DevServerHandles;
  let emulator: RunningEmulator;
  let api: ApiHarness;
  let worker: { stop(): Promise<void> };
  const connected: number[] = [];
  let revoked: number;

  beforeAll(async () => {
    [dev, emulator] = await Promise.all([connectDevServer(), startEmulator({ seed: 8 })]);
    api = await startApi({ db, dev, emulator, env: { TEMPORAL_UI_URL: 'http://localhost:8233' } });
    worker = await startWorker(api, dev, db.sql, emulator);
    for (let i = 0; i < 3; i++) connected.push(await connectAthlete(api, emulator, db.sql, 2));
    revoked = uniqueAthleteId();
    await upsertConnectedAthlete(db.sql, revoked, ['read']);
    await purgeAthlete(db.sql, revoked);
    // An ignored row holds one of the sample's slots (migration 007).
    await db.sql`insert into webhook_events (object_type, object_id, aspect_type, owner_id, subscription_id, event_time, outcome, ignored_slot)
                 values ('activity', 1, 'create', ${connected[0]!}, 1, 1, 'pending', null), ('activity', 2, 'create', 9, 1, 1, 'ignored', 0)`;
  });
  afterAll(async () => {
    for (const id of connected) await dev.client.workflow.getHandle(athleteWorkflowId(id)).terminate('test done').catch(() => {});
    await worker?.stop();
    await api?.stop();
    await emulator?.close();
    await dev?.close();
  });

  it.each([
    ['GET', '/admin/athletes'],
    ['GET', '/admin/overview'],
    ['POST', '/admin/sync'],
  ])('%s %s needs the admin key', async (method, path) => {
    const response = await api.fetch(path, { method });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    expect((await api.fetch(path, { method, headers: { authorization: 'Bearer not-the-key' } })).status).toBe(401);
  });

  it('GET /admin/athletes lists every athlete with state, filterable by state', async () => {
    const response = await api.fetch('/admin/athletes', { admin: true });
    expect(response.status).toBe(200);
    const { athletes } = (await response.json()) as { athletes: AdminAthlete[] };
    expect(athletes.map((a) => a.athleteId).sort()).toEqual([...connected, revoked].sort());
    const first = athletes.find((a) => a.athleteId === connected[0])!;
    expect(first.workflowId).toBe(athleteWorkflowId(connected[0]!));
    expect(first.temporalUiUrl).toBe(`http://localhost:8233/namespaces/default/workflows/athlete-${connected[0]}`);
    const filtered = (await (await api.fetch('/admin/athletes?state=revoked', { admin: true })).json()) as { athletes: AdminAthlete[] };
    expect(filtered.athletes.map((a) => a.athleteId)).toEqual([revoked]);
    const bad = await api.fetch('/admin/athletes?state=sleeping', { admin: true });
    expect(bad.status).toBe(400);
  });

  it('GET /admin/overview: counts, webhook inbox, governor usage', async () => {
    const response = await api.fetch('/admin/overview', { admin: true });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      athletesByState: { revoked: 1 },
      webhookEventsByOutcome: { pending: 1, ignored: 1 },
      oldestPendingWebhookAt: expect.any(String),
      governor: { window: { limit: 100 }, day: { limit: 1000 } },
      temporalUiUrl: 'http://localhost:8233/namespaces/default/workflows',
    });
  });

  it('POST /admin/sync with a list: syncs the connected, skips unknown and revoked; the batch aggregate says so', async () => {
    const unknown = uniqueAthleteId();
    const response = await api.fetch('/admin/sync', {
      method: 'POST',
      admin: true,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ athleteIds: [connected[0], unknown, revoked] }),
    });
    expect(response.status).toBe(202);
    const body = (await response.json()) as { batchId: string; statusUrl: string; athletes: number };
    expect(body.athletes).toBe(3);
    const done = await waitFor(
      async () => (await (await api.fetch(body.statusUrl, { admin: true })).json()) as { done: boolean; succeeded: number; skipped: unknown; failed: unknown },
      (view) => view.done,
      { timeoutMs: 20_000, what: 'the batch' },
    );
    expect(done).toMatchObject({ succeeded: 1, skipped: { total: 2, byReason: { not_connected: 1, revoked: 1 } }, failed: { total: 0 } });
  });

  it('POST /admin/sync without a list syncs every connected athlete', async () => {
    const response = await api.fetch('/admin/sync', { method: 'POST', admin: true, headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(response.status).toBe(202);
    const body = (await response.json()) as { statusUrl: string };
    const done = await waitFor(
      async () => (await (await api.fetch(body.statusUrl, { admin: true })).json()) as { done: boolean; succeeded: number },
      (view) => view.done,
      { timeoutMs: 20_000, what: 'the batch' },
    );
    expect(done.succeeded).toBe(3);
    await waitFor(
      async () => (await db.sql<{ n: number }[]>`select count(distinct athlete_id)::int as n from activities`)[0]!.n,
      (n) => n === 3,
      { timeoutMs: 20_000, what: 'every athlete synced' },
    );
  });

  it('GET /admin serves the self-contained management page without the key, under a nonce CSP', async () => {
    const response = await api.fetch('/admin');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = response.headers.get('content-security-policy')!;
    const nonce = /'nonce-([^']+)'/.exec(csp)![1]!;
    const html = await response.text();
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).not.toContain(ADMIN_KEY);
  });

  browserTest('the management page works in a browser: paste the key, see athletes and counts, sync', async (chromiumPath) => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      // Failed HTTP loads (the favicon, the deliberate 401) are expected; script errors and CSP refusals are not.
      page.on('console', (message) => message.type() === 'error' && !message.text().startsWith('Failed to load resource') && errors.push(message.text()));
      await page.goto(`${api.url}/admin`);
      await page.getByText('Paste the admin API key').waitFor();
      await page.fill('#key', 'wrong-key-123');
      await page.click('button[type=submit]');
      await page.getByText('invalid admin API key').waitFor();
      await page.fill('#key', ADMIN_KEY);
      await page.click('button[type=submit]');
      await page.getByText('athlete(s) loaded').waitFor();
      const rows = await page.locator('#athletes tr').count();
      expect(rows).toBe(4);
      const link = page.locator(`#athletes tr[data-athlete-id="${connected[1]}"] a`);
      expect(await link.getAttribute('href')).toBe(`http://localhost:8233/namespaces/default/workflows/athlete-${connected[1]}`);
      expect(await page.locator('#webhook-counts').textContent()).toContain('pending');
      const governor = await page.locator('#governor').textContent();
      expect(governor).toMatch(/used \(all\)\s*\d+ \/ 100\s*\d+ \/ 1000/);
      expect(await page.locator('#governor tr', { hasText: 'background may use' }).locator('td').nth(0).textContent()).toBe('60');
      await page.selectOption('#state-filter', 'revoked');
      await expect.poll(() => page.locator('#athletes tr').count()).toBe(1);
      await page.selectOption('#state-filter', '');
      await expect.poll(() => page.locator('#athletes tr').count()).toBe(4);
      await page.locator(`#athletes tr[data-athlete-id="${connected[2]}"] button.sync`).click();
      await page.getByText(`Sync requested for ${connected[2]}`).waitFor();
      await page.locator('#sync-result-title', { hasText: 'Batch finished' }).waitFor();
      // The page itself runs under the CSP: no violation may have been reported.
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

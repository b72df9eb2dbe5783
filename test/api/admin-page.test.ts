import { afterAll, beforeAll, describe, expect } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { athleteWorkflowId } from '../../src/temporal/athlete-gateway.js';
import { browserTest, screenshotPath } from '../helpers/browser.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { ADMIN_KEY, connectAthlete, startApi, startWorker, type ApiHarness } from './helpers/api-harness.js';

const db = useTestDatabase();

/** Names as Strava might send them: one ordinary, two that would run script if the page parsed them as HTML. */
const NAMES = ['Ada Lovelace', '<img src=x onerror="window.__pwned=1">', 'Eve </td><script>window.__pwned=2</script>'];

describe('the management page in a browser', () => {
  let dev: DevServerHandles;
  let emulator: RunningEmulator;
  let api: ApiHarness;
  let worker: { stop(): Promise<void> };
  const athletes: number[] = [];

  beforeAll(async () => {
    [dev, emulator] = await Promise.all([connectDevServer(), startEmulator({ seed: 21, webhookRetryDelayMs: 100 })]);
    api = await startApi({ db, dev, emulator, env: { TEMPORAL_UI_URL: 'http://localhost:8233' }, relay: true });
    worker = await startWorker(api, dev, db.sql, emulator);
    for (const name of NAMES) {
      const id = await connectAthlete(api, emulator, db.sql, 4);
      await db.sql`update athletes set name = ${name} where id = ${id}`;
      athletes.push(id);
    }
  });
  afterAll(async () => {
    for (const id of athletes) await dev.client.workflow.getHandle(athleteWorkflowId(id)).terminate('test done').catch(() => {});
    await worker?.stop();
    await api?.stop();
    await emulator?.close();
    await dev?.close();
  });

  browserTest(
    'walks the page: health numbers, subscription delete and re-create, names as text, pause and resume, a setting, sync all with its result, live refresh keeps the operator’s place',
    async (chromiumPath) => {
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
      try {
        // Page code runs in the browser: given as text, since this project's TypeScript has no DOM types.
        const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
        const errors: string[] = [];
        page.on('pageerror', (error) => errors.push(error.message));
        // Failed loads (favicon, the routes a server lacks) are expected; script errors and CSP refusals are not.
        page.on('console', (message) => message.type() === 'error' && !message.text().startsWith('Failed to load resource') && errors.push(message.text()));
        await page.goto(`${api.url}/admin`);
        await page.fill('#key', ADMIN_KEY);
        await page.click('#key-form button[type=submit]');
        await page.getByText('athlete(s) loaded').waitFor();

        // Subscription: none yet; create it from the page.
        const badge = page.locator('#subscription-badge');
        await expect.poll(() => badge.textContent()).toBe('No subscription at Strava');
        await page.click('#subscription-create');
        await page.locator('#subscription-message', { hasText: 'Created subscription' }).waitFor();
        await expect.poll(() => badge.textContent()).toBe('Delivering here');
        const created = Number(/\d+/.exec((await page.locator('#subscription-message').textContent())!)![0]);
        expect((await emulator.control.subscription())?.id).toBe(created);

        // A genuine webhook arrives: the card shows when.
        await emulator.control.createActivity(athletes[0]!, { name: 'morning run' });
        await page.click('#refresh');
        await expect.poll(() => page.locator('#subscription-facts').textContent(), { timeout: 20_000 }).toMatch(/Last genuine webhook(just now|\d+(\.\d+)? s ago)/);

        // The four numbers, as GET /admin/health computes them, for both windows; the latency chart has a bar per bucket.
        interface Health { windows: Record<'1h' | '24h', { webhookDelivery: { viaWebhook: number; repairs: number; rate: number | null } }>; latencyBuckets: unknown[] }
        const cell = (metric: string, kind: 'rate' | 'detail', window: string) => page.locator(`[data-metric="${metric}"] td.${kind}[data-window="${window}"]`);
        await expect
          .poll(async () => {
            await page.click('#refresh');
            const health = (await (await api.fetch('/admin/health', { admin: true })).json()) as Health;
            const { viaWebhook, repairs } = health.windows['24h'].webhookDelivery;
            return viaWebhook >= 1 && (await cell('webhookDelivery', 'detail', '24h').textContent()) === `${viaWebhook} by webhook, ${repairs} repaired`;
          }, { timeout: 30_000 })
          .toBe(true);
        expect(await cell('webhookDelivery', 'rate', '1h').textContent()).toMatch(/^\d+(\.\d)? %$/);
        for (const metric of ['backfillCompletion', 'tokenRefresh', 'latency']) {
          for (const window of ['1h', '24h']) expect(await cell(metric, 'rate', window).textContent()).toMatch(/^(\d+(\.\d)? (%|ms|s|min|h|d)|—)$/);
        }
        const health = (await (await api.fetch('/admin/health', { admin: true })).json()) as Health;
        expect(await page.locator('#latency-chart svg rect.bar').count()).toBe(health.latencyBuckets.length);
        expect(await page.locator('#latency-chart svg desc').textContent()).toMatch(/^\d+ events\./);

        // Delete (two steps), then re-create.
        await page.click('#subscription-delete');
        await page.click('#subscription-delete-confirm');
        await page.locator('#subscription-message', { hasText: `Deleted subscription ${created}` }).waitFor();
        await expect.poll(() => badge.textContent()).toBe('No subscription at Strava');
        expect(await emulator.control.subscription()).toBeNull();
        await page.click('#subscription-create');
        await expect.poll(() => badge.textContent()).toBe('Delivering here');

        // Athlete names are text: shown verbatim, nothing they contain ran or became an element.
        const rows = page.locator('#athletes tr');
        await expect.poll(() => rows.count()).toBe(3);
        for (const [i, name] of NAMES.entries()) {
          expect(await page.locator(`#athletes tr[data-athlete-id="${athletes[i]}"] .athlete-name`).textContent()).toBe(name);
        }
        expect(await page.locator('#athletes img, #athletes script').count()).toBe(0);
        expect(await page.evaluate('window.__pwned')).toBeUndefined();
        const link = page.locator(`#athletes tr[data-athlete-id="${athletes[1]}"] a`);
        expect(await link.getAttribute('href')).toBe(`http://localhost:8233/namespaces/default/workflows/athlete-${athletes[1]}`);

        // Pause and resume one athlete from its row.
        const ada = page.locator(`#athletes tr[data-athlete-id="${athletes[0]}"]`);
        const pausedBy = async () => ((await (await api.fetch(`/athletes/${athletes[0]}`, { admin: true })).json()) as { pausedBy: string | null }).pausedBy;
        await ada.locator('button.pause', { hasText: 'Pause' }).click();
        await page.locator('#status', { hasText: `Paused ${NAMES[0]}` }).waitFor();
        await expect.poll(pausedBy, { timeout: 20_000 }).toBe('operator');
        await expect.poll(() => ada.locator('td').nth(2).textContent(), { timeout: 20_000 }).toBe('paused (by operator)');
        await ada.locator('button.pause', { hasText: 'Resume' }).click();
        await page.locator('#status', { hasText: `Resumed ${NAMES[0]}` }).waitFor();
        await expect.poll(pausedBy, { timeout: 20_000 }).toBeNull();
        await expect.poll(() => ada.locator('button.pause').textContent(), { timeout: 20_000 }).toBe('Pause');

        // Change a setting: the backfill interval, in minutes on the form.
        await page.fill('#setting-backfill', '90');
        await page.click('#settings-form button[type=submit]');
        await page.locator('#settings-message', { hasText: 'Saved' }).waitFor();
        const settings = (await (await api.fetch('/admin/settings', { admin: true })).json()) as { settings: { backfillIntervalMs: number; paused: boolean } };
        expect(settings.settings).toMatchObject({ backfillIntervalMs: 90 * 60_000, paused: false });
        expect(await page.inputValue('#setting-backfill')).toBe('90');
        expect(await page.locator('#settings-updated').textContent()).toMatch(/^changed /);

        // Sync all with options: full window, at most two athletes (the stalest first).
        await page.check('#mode-full');
        await page.fill('#sync-limit', '2');
        await page.click('#sync-all');
        await page.locator('#sync-result-title', { hasText: 'Batch finished (full)' }).waitFor({ timeout: 60_000 });
        const facts = page.locator('#sync-result-facts');
        expect(await facts.textContent()).toContain('Succeeded2');
        expect(await facts.textContent()).toContain('Skipped1 (over_limit 1)');
        expect(await facts.textContent()).toContain('Failed0');
        expect(await facts.textContent()).toMatch(/Strava requests\d+/);
        expect(await facts.textContent()).toContain('Doneyes');

        // Live: the page refreshes itself every 10 s and keeps what the operator is doing.
        await page.selectOption('#state-filter', '');
        await page.fill('#sync-skip', '15m');
        await page.evaluate('window.scrollTo(0, 600)');
        await page.focus('#sync-skip');
        // The operator's place: where the field they are typing in sits on the screen.
        const fieldTop = `Math.round(document.getElementById('sync-skip').getBoundingClientRect().top)`;
        const topBefore = (await page.evaluate(fieldTop)) as number;
        const loadedBefore = await page.locator('#status').textContent();
        const newcomer = await connectAthlete(api, emulator, db.sql, 0);
        athletes.push(newcomer);
        await page.locator(`#athletes tr[data-athlete-id="${newcomer}"]`).waitFor({ timeout: 25_000 });
        expect(await page.locator('#status').textContent()).not.toBe(loadedBefore);
        expect(await page.inputValue('#sync-skip')).toBe('15m');
        expect(await page.evaluate('document.activeElement && document.activeElement.id')).toBe('sync-skip');
        // A new row above grows the page; the view stays where it was (the browser's scroll anchoring keeps the
        // field in place since the page updates rows instead of rebuilding the document).
        expect(Math.abs(((await page.evaluate(fieldTop)) as number) - topBefore)).toBeLessThanOrEqual(2);

        // Accessible: every control has a label or a name, headings do not skip levels.
        const unlabelled = await page.evaluate(`[...document.querySelectorAll('input, select, textarea')]
          .filter((e) => e.labels.length === 0 && !e.getAttribute('aria-label')).map((e) => e.id || e.name)`);
        expect(unlabelled).toEqual([]);
        const unnamedButtons = await page.evaluate(`[...document.querySelectorAll('button')]
          .filter((b) => !(b.getAttribute('aria-label') || b.textContent).trim()).length`);
        expect(unnamedButtons).toBe(0);
        const levels = (await page.evaluate(`[...document.querySelectorAll('h1, h2, h3')].map((h) => Number(h.tagName[1]))`)) as number[];
        expect(levels[0]).toBe(1);
        expect(levels.every((level, i) => i === 0 || level <= levels[i - 1]! + 1)).toBe(true);

        await page.evaluate('window.scrollTo(0, 0)');
        await page.click('#refresh');
        await page.locator('#status', { hasText: 'loaded at' }).waitFor();
        await page.screenshot({ path: screenshotPath('admin-page', 'overview.png'), fullPage: false });
        await page.screenshot({ path: screenshotPath('admin-page', 'page.png'), fullPage: true });
        // From the athletes table down to the batch's result.
        const from = (await page.locator('#athletes-h').boundingBox())!;
        const to = (await page.locator('#sync-result').boundingBox())!;
        const top = from.y - 8;
        await page.screenshot({ path: screenshotPath('admin-page', 'athletes-and-sync.png'), fullPage: true, clip: { x: 0, y: top, width: 1360, height: to.y + to.height + 8 - top } });
        expect(errors).toEqual([]);
      } finally {
        await browser.close();
      }
    },
    180_000,
  );
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncRunPageSchema, type SyncRunPage } from '../../src/api/admin/sync-history-schemas.js';
import { recordSyncRun, type SyncRunInput } from '../../src/db/repositories/sync-runs.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { startApi, uniqueAthleteId, type ApiHarness } from './helpers/api-harness.js';

/** GET /admin/sync-runs: the sync history, filtered and cursor paged, with 400s for every malformed input. */

const db = useTestDatabase();
const MIN = 60_000;
const T0 = Date.parse('2026-06-01T12:00:00.000Z');

describe('GET /admin/sync-runs', () => {
  let dev: DevServerHandles;
  let api: ApiHarness;
  const [first, second] = [uniqueAthleteId(), uniqueAthleteId()];
  /** What was recorded, oldest first. */
  const recorded: (SyncRunInput & { n: number })[] = [];

  const page = async (query: string): Promise<SyncRunPage> => {
    const response = await api.fetch(`/admin/sync-runs${query}`, { admin: true });
    expect(response.status, await response.clone().text()).toBe(200);
    return syncRunPageSchema.parse(await response.json());
  };
  /** Follows nextCursor to the end. */
  const all = async (query: string, limit: number) => {
    const runs: SyncRunPage['runs'] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const separator = query ? '&' : '?';
      const body: SyncRunPage = await page(`${query}${separator}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      runs.push(...body.runs);
      cursor = body.nextCursor;
      pages++;
    } while (cursor);
    return { runs, pages };
  };

  beforeAll(async () => {
    dev = await connectDevServer();
    api = await startApi({ db, dev });
    // 30 runs a minute apart: athletes alternate, triggers cycle, every fifth fails, every seventh is rate limited.
    const triggers = ['webhook', 'backfill', 'manual', 'focus', 'burst', 'catch_up', 'import_page'] as const;
    for (let n = 0; n < 30; n++) {
      const trigger = triggers[n % triggers.length]!;
      const outcome = n % 5 === 0 ? 'failed' : n % 7 === 3 ? 'rate_limited' : 'ok';
      const row: SyncRunInput = {
        athleteId: n % 2 === 0 ? first : second,
        activity: trigger === 'webhook' ? 'fetch_activity' : trigger === 'import_page' ? 'import_page' : 'sync_window',
        trigger,
        outcome,
        failureType: outcome === 'failed' ? 'StravaServerError' : outcome === 'rate_limited' ? 'RateLimited' : null,
        attempt: outcome === 'failed' ? 6 : 1,
        willRetry: false,
        requests: 1,
        added: n,
        updated: 0,
        deleted: 0,
        changes: trigger === 'import_page' ? 0 : 1,
        startedAt: new Date(T0 + n * MIN),
        durationMs: 100 + n,
        dueAt: trigger === 'backfill' ? new Date(T0 + n * MIN - 1_000) : null,
        eventToRowMs: trigger === 'webhook' && outcome === 'ok' ? 1_500 : null,
        receiptToRowMs: trigger === 'webhook' && outcome === 'ok' ? 300 : null,
      };
      await recordSyncRun(db.sql, row);
      recorded.push({ ...row, n });
    }
  });
  afterAll(async () => {
    await api?.stop();
    await dev?.close();
  });

  it('needs the admin key', async () => {
    expect((await api.fetch('/admin/sync-runs')).status).toBe(401);
  });

  it('lists newest first with every field, 50 by default', async () => {
    const body = await page('');
    expect(body.runs).toHaveLength(30);
    expect(body.nextCursor).toBeNull();
    expect(body.runs.map((r) => r.added)).toEqual(recorded.map((r) => r.n).reverse());
    const backfill = body.runs.find((r) => r.added === 1)!;
    expect(backfill).toEqual({
      id: expect.any(Number),
      athleteId: second,
      activity: 'sync_window',
      trigger: 'backfill',
      outcome: 'ok',
      failureType: null,
      attempt: 1,
      willRetry: false,
      requests: 1,
      added: 1,
      updated: 0,
      deleted: 0,
      changes: 1,
      startedAt: new Date(T0 + MIN).toISOString(),
      durationMs: 101,
      dueAt: new Date(T0 + MIN - 1_000).toISOString(),
      eventToRowMs: null,
      receiptToRowMs: null,
    });
    expect(body.runs.find((r) => r.added === 7)).toMatchObject({ trigger: 'webhook', eventToRowMs: 1_500, receiptToRowMs: 300 });
  });

  it('pages with nextCursor: every run once, in order, stable while new runs arrive', async () => {
    const { runs, pages } = await all('', 7);
    expect(pages).toBe(5);
    expect(runs.map((r) => r.added)).toEqual(recorded.map((r) => r.n).reverse());
    // A run recorded between two pages does not shift the next page.
    const firstPage = await page('?limit=10');
    await recordSyncRun(db.sql, { ...recorded[0]!, startedAt: new Date(T0 + 60 * MIN), added: 999 });
    const next = await page(`?limit=10&cursor=${firstPage.nextCursor}`);
    expect(next.runs.map((r) => r.added)).toEqual(recorded.map((r) => r.n).reverse().slice(10, 20));
    await db.sql`delete from sync_runs where added = 999`;
  });

  it('filters by athlete, trigger, outcome and start time, alone and together, paging within the filter', async () => {
    const expectRuns = async (query: string, keep: (r: (typeof recorded)[number]) => boolean) => {
      const { runs } = await all(query, 3);
      expect(runs.map((r) => r.added), query).toEqual(recorded.filter(keep).map((r) => r.n).reverse());
    };
    await expectRuns(`?athleteId=${first}`, (r) => r.athleteId === first);
    await expectRuns('?trigger=backfill', (r) => r.trigger === 'backfill');
    await expectRuns('?outcome=failed', (r) => r.outcome === 'failed');
    await expectRuns('?outcome=rate_limited', (r) => r.outcome === 'rate_limited');
    const since = new Date(T0 + 10 * MIN).toISOString();
    const until = new Date(T0 + 20 * MIN).toISOString();
    await expectRuns(`?since=${since}&until=${until}`, (r) => r.n >= 10 && r.n < 20);
    // Epoch seconds work too.
    await expectRuns(`?since=${(T0 + 25 * MIN) / 1000}`, (r) => r.n >= 25);
    await expectRuns(`?athleteId=${second}&outcome=ok&since=${since}`, (r) => r.athleteId === second && r.outcome === 'ok' && r.n >= 10);
    await expectRuns(`?athleteId=${uniqueAthleteId()}`, () => false);
  });

  it.each([
    ['?trigger=nightly', 'trigger'],
    ['?outcome=maybe', 'outcome'],
    ['?athleteId=-4', 'athleteId'],
    ['?athleteId=99999999999999999', 'athleteId'],
    ['?since=yesterday', 'since'],
    ['?until=99999999999999', 'until'],
    ['?since=2026-06-02T00:00:00Z&until=2026-06-01T00:00:00Z', 'since must be before until'],
    ['?limit=0', 'limit'],
    ['?limit=201', 'limit'],
    ['?cursor=not-a-cursor', 'invalid cursor'],
    [`?cursor=${Buffer.from('[-1]').toString('base64url')}`, 'invalid cursor'],
    ['?athlete=1', 'athlete'],
  ])('%s is a 400 that says what is wrong', async (query, mention) => {
    const response = await api.fetch(`/admin/sync-runs${query}`, { admin: true });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('invalid_request');
    expect(body.error.message).toContain(mention);
  });

  it('both routes are in /openapi.json with their parameters', async () => {
    const document = (await (await api.fetch('/openapi.json')).json()) as { paths: Record<string, { get?: { parameters?: { name: string }[]; responses: Record<string, unknown> } }> };
    expect(document.paths['/admin/health']?.get?.responses).toHaveProperty('200');
    expect(document.paths['/admin/sync-runs']?.get?.parameters?.map((p) => p.name).sort()).toEqual(['athleteId', 'cursor', 'limit', 'outcome', 'since', 'trigger', 'until']);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSettingsSync } from '../../src/api/settings/index.js';
import type { FleetSettings } from '../../src/domain/fleet-settings.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { ADMIN_KEY, startApi, waitFor, type ApiHarness } from './helpers/api-harness.js';

/**
 * GET and PUT /admin/settings on the real API and PostgreSQL: the contract the management page codes against,
 * validation at the edge, the audit line, and the version that running workflows compare. (How a change reaches
 * running workflows: test/integration/operator-controls.test.ts.)
 */

const db = useTestDatabase();
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

interface SettingsBody {
  settings: { backfillIntervalMs: number; focusStaleAfterMs: number; paused: boolean };
  defaults: { backfillIntervalMs: number; focusStaleAfterMs: number; paused: boolean };
  updatedAt: string | null;
  version: number;
}

describe('/admin/settings', () => {
  let dev: DevServerHandles;
  let api: ApiHarness;
  const defaults = { backfillIntervalMs: 2 * HOUR, focusStaleAfterMs: 30 * MINUTE, paused: false };

  beforeAll(async () => {
    dev = await connectDevServer();
    api = await startApi({ db, dev, env: { BACKFILL_INTERVAL: '2h', FOCUS_STALE_AFTER: '30m' } });
  });
  afterAll(async () => {
    await api?.stop();
    await dev?.close();
  });

  const put = (body: unknown, init: { admin?: boolean; contentType?: string } = {}) =>
    api.fetch('/admin/settings', {
      method: 'PUT',
      admin: init.admin ?? true,
      headers: { 'content-type': init.contentType ?? 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const get = async () => (await (await api.fetch('/admin/settings', { admin: true })).json()) as SettingsBody;
  const auditLines = () => api.logs.filter((line) => line.includes('"audit":"settings_changed"')).map((line) => JSON.parse(line) as Record<string, unknown>);

  it('needs the admin key', async () => {
    for (const method of ['GET', 'PUT']) {
      const response = await api.fetch('/admin/settings', { method, ...(method === 'PUT' ? { headers: { 'content-type': 'application/json' }, body: '{}' } : {}) });
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
      expect((await api.fetch('/admin/settings', { method, headers: { authorization: `Bearer ${ADMIN_KEY}x` } })).status).toBe(401);
    }
  });

  it('GET answers the environment values as settings and defaults before anything changed', async () => {
    const response = await api.fetch('/admin/settings', { admin: true });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ settings: defaults, defaults, updatedAt: null, version: 0 });
  });

  it('PUT changes any subset, answers like GET, and logs old -> new once per change', async () => {
    const response = await put({ backfillIntervalMs: 6 * HOUR });
    expect(response.status).toBe(200);
    const changed = (await response.json()) as SettingsBody;
    expect(changed).toEqual({ settings: { ...defaults, backfillIntervalMs: 6 * HOUR }, defaults, updatedAt: expect.any(String), version: expect.any(Number) });
    expect(changed.version).toBeGreaterThan(0);
    expect(Date.now() - Date.parse(changed.updatedAt!)).toBeLessThan(60_000);
    expect(await get()).toEqual(changed);
    expect(auditLines().at(-1)).toMatchObject({
      audit: 'settings_changed',
      version: changed.version,
      changes: { backfillIntervalMs: { from: 2 * HOUR, to: 6 * HOUR } },
    });

    const both = (await (await put({ focusStaleAfterMs: 5 * MINUTE, paused: true })).json()) as SettingsBody;
    expect(both.settings).toEqual({ backfillIntervalMs: 6 * HOUR, focusStaleAfterMs: 5 * MINUTE, paused: true });
    expect(both.version).toBeGreaterThan(changed.version);
    expect(auditLines().at(-1)).toMatchObject({ changes: { focusStaleAfterMs: { from: 30 * MINUTE, to: 5 * MINUTE }, paused: { from: false, to: true } } });

    // Setting what already applies changes nothing: no new version (no signal to any workflow), no audit line.
    const lines = auditLines().length;
    const same = (await (await put({ paused: true, backfillIntervalMs: 6 * HOUR })).json()) as SettingsBody;
    expect(same.version).toBe(both.version);
    expect((await (await put({})).json()) as SettingsBody).toEqual(same);
    expect(auditLines()).toHaveLength(lines);

    // null sets a value back to its default.
    const reset = (await (await put({ backfillIntervalMs: null, paused: null, focusStaleAfterMs: null })).json()) as SettingsBody;
    expect(reset.settings).toEqual(defaults);
    expect(reset.version).toBeGreaterThan(both.version);
    expect(auditLines().at(-1)).toMatchObject({
      changes: { backfillIntervalMs: { from: 6 * HOUR, to: 2 * HOUR }, focusStaleAfterMs: { from: 5 * MINUTE, to: 30 * MINUTE }, paused: { from: true, to: false } },
    });
  });

  it('accepts the bounds and refuses what lies outside them, naming the field', async () => {
    expect((await put({ backfillIntervalMs: 15 * MINUTE, focusStaleAfterMs: MINUTE })).status).toBe(200);
    expect((await put({ backfillIntervalMs: 14 * 24 * HOUR, focusStaleAfterMs: 7 * 24 * HOUR })).status).toBe(200);
    const refused: [unknown, RegExp][] = [
      [{ backfillIntervalMs: 15 * MINUTE - 1 }, /backfillIntervalMs: must be at least 15 minutes/],
      [{ backfillIntervalMs: 14 * 24 * HOUR + 1 }, /backfillIntervalMs: must be at most 14 days/],
      [{ focusStaleAfterMs: MINUTE - 1 }, /focusStaleAfterMs: must be at least 1 minutes/],
      [{ focusStaleAfterMs: 7 * 24 * HOUR + 1 }, /focusStaleAfterMs: must be at most 7 days/],
      [{ backfillIntervalMs: 3_600_000.5 }, /backfillIntervalMs: must be a whole number/],
      [{ backfillIntervalMs: '3h' }, /backfillIntervalMs/],
      [{ paused: 'yes' }, /paused/],
      [{ pauzed: true }, /pauzed|unrecognized/i],
      [[{ paused: true }], /body/],
    ];
    for (const [body, message] of refused) {
      const response = await put(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      const error = ((await response.json()) as { error: { code: string; message: string } }).error;
      expect(error.code).toBe('invalid_request');
      expect(error.message).toMatch(message);
    }
    for (const body of ['{"paused": tru', '5', 'null']) {
      const notAnObject = await put(body);
      expect(notAnObject.status, body).toBe(400);
      expect(((await notAnObject.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
    }
    expect((await put('paused=true', { contentType: 'text/plain' })).status).toBe(415);
    // Nothing refused was written.
    expect((await get()).settings).toEqual({ backfillIntervalMs: 14 * 24 * HOUR, focusStaleAfterMs: 7 * 24 * HOUR, paused: false });
  });

  it('keeps concurrent changes of different settings both (one after the other, each with its own version)', async () => {
    const [a, b] = await Promise.all([put({ backfillIntervalMs: 4 * HOUR }), put({ focusStaleAfterMs: 20 * MINUTE })]);
    const [first, second] = [(await a.json()) as SettingsBody, (await b.json()) as SettingsBody];
    expect(first.version).not.toBe(second.version);
    expect((await get()).settings).toMatchObject({ backfillIntervalMs: 4 * HOUR, focusStaleAfterMs: 20 * MINUTE });
  });

  it('runs one settings pass at a time: requests during a pass share one more pass, then it stops', async () => {
    const sent: FleetSettings[] = [];
    let release: () => void = () => {};
    const workflows = {
      async sendSettings(settings: FleetSettings) {
        sent.push(settings);
        await new Promise<void>((resolve) => (release = resolve));
        return { signalled: 0, failed: 0 };
      },
    };
    const warnings: unknown[] = [];
    const sync = createSettingsSync({ sql: db.sql, workflows, config: api.config, logger: { info: () => {}, warn: (...args: unknown[]) => warnings.push(args) } });
    const first = sync.passOnce();
    await waitFor(() => sent.length, (n) => n === 1, { timeoutMs: 5_000, what: 'the first pass' });
    const during = [sync.passOnce(), sync.passOnce(), sync.passOnce()];
    release();
    await first;
    await waitFor(() => sent.length, (n) => n === 2, { timeoutMs: 5_000, what: 'the one pass after it' });
    release();
    const results = await Promise.all(during);
    expect(results.every((r) => r.version === results[0]!.version)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sent).toHaveLength(2);
    expect(sent[1]).toEqual(sync.current());
    expect(warnings).toEqual([]);
  });

  it('is documented in /openapi.json', async () => {
    const document = (await (await api.fetch('/openapi.json')).json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(document.paths['/admin/settings'] ?? {}).sort()).toEqual(['get', 'put']);
    expect(Object.keys(document.paths['/athletes/{id}/pause'] ?? {})).toEqual(['post']);
    expect(Object.keys(document.paths['/athletes/{id}/resume'] ?? {})).toEqual(['post']);
  });
});

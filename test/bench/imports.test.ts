import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { runLiveImports } from '../../bench/imports/live.js';
import { capReached, floorPages, servicePages } from '../../bench/imports/plan.js';
import { simulateImports } from '../../bench/imports/simulate.js';

/**
 * Smoke-sized runs of bench/imports (the full run: `npx tsx bench/imports/run.ts --write`). They assert what the
 * benchmark's numbers rest on, never a latency: every import completes, each uses exactly the list requests its
 * paging needs (the floor where the service's one-second overlap costs nothing), the emulator served what the
 * sync history recorded, no 429 came back, realtime was never refused, and in every window that ended with
 * imports waiting the background used at least 90 % of what the governor allowed it.
 */
describe('import benchmark (smoke size)', () => {
  it('the page counts: the floor, and what the one-second overlap adds', () => {
    expect(floorPages(5000)).toBe(26);
    expect(servicePages(5000)).toBe(26);
    expect([floorPages(199), floorPages(200), floorPages(201)]).toEqual([1, 2, 2]);
    expect([servicePages(199), servicePages(200), servicePages(398), servicePages(399)]).toEqual([1, 2, 2, 3]);
  });

  it("at Strava's default limits (simulated clock, real governor and import code): every import at its pages, no 429, the share used", async () => {
    const report = await simulateImports({
      databaseServerUrl: inject('databaseServerUrl'),
      importers: 8,
      minActivities: 1_000,
      maxActivities: 3_000,
      watchers: 2,
      eventsPerDay: 300,
      limits: { fifteenMinute: 100, daily: 1_000 },
      startAt: Date.parse('2026-01-05T00:00:00Z'),
    });
    expect(report.imports.every((i) => i.doneAfterMs !== null)).toBe(true);
    for (const i of report.imports) expect(i.requests).toBe(i.servicePages);
    expect(report.totalPages).toBe(report.imports.reduce((n, i) => n + i.servicePages, 0));
    expect(report.listRequestsServed).toBe(report.totalPages);
    expect(report.rateLimited429).toBe(0);
    expect(report.realtime.events).toBeGreaterThan(0);
    expect(report.realtime.refused).toBe(0);
    const backlogged = report.windows.filter((w) => w.backlog);
    // ~90 pages: 60 in the first window, then the daily pace (~6 a window): several windows end with imports waiting.
    expect(backlogged.length).toBeGreaterThan(1);
    for (const w of backlogged) expect(capReached(w)).toBeGreaterThanOrEqual(0.9);
    expect(report.lastImportMs).toBeGreaterThanOrEqual(report.boundMs);
  });

  it('on the real stack: athletes connecting at once with webhooks arriving; every import at its pages, nothing missing, no 429', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'imports-smoke-'));
    try {
      const report = await runLiveImports({
        dir,
        databaseServerUrl: inject('databaseServerUrl'),
        workflowBundlePath: inject('workflowBundlePath'),
        temporalStore: 'memory',
        importers: 5,
        minActivities: 300,
        maxActivities: 1_000,
        watchers: 3,
        limits: { fifteenMinute: 60_000, daily: 600_000 },
        eventRate: 3,
        baselineSeconds: 3,
        loadedSeconds: 8,
        leadMs: null,
        importTimeoutMs: 30_000,
      });
      expect(report.imports.every((i) => i.doneAfterMs !== null)).toBe(true);
      for (const i of report.imports) expect(i.requests).toBe(i.servicePages);
      expect(report.listRequestsServed).toBe(report.totalPages);
      expect(report.rateLimited429).toBe(0);
      expect(report.realtime.refused).toBe(0);
      for (const step of [report.baseline, report.loadedWatchers]) {
        expect(step.created).toBeGreaterThan(0);
        expect(step.missing).toBe(0);
        expect(step.latency).not.toBeNull();
      }
      expect(report.loadedImporters?.missing ?? 0).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);
});

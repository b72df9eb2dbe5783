import { describe, expect, it } from 'vitest';
import { HOUR_MS } from '../../src/domain/durations.js';
import { simulateFleet, type SimulationOptions } from '../../bench/fleet-sim/simulate.js';
import { useTestDatabase } from '../helpers/database.js';

/**
 * A smoke-sized run of bench/fleet-sim (the full run: `npx tsx bench/fleet-sim/run.ts --write`), so the benchmark
 * cannot rot, and the properties it exists to show hold on a small fleet too.
 */
const db = useTestDatabase();

const base = (overrides: Partial<SimulationOptions>): SimulationOptions => ({
  sql: db.sql,
  athletes: 60,
  days: 1,
  seed: 7,
  policy: 'strava-sync',
  webhookLoss: 0.02,
  limits: { fifteenMinute: 100, daily: 1000 },
  backgroundShare: 0.6,
  interactiveShare: 0.85,
  baseIntervalMs: 3 * HOUR_MS,
  jitter: 0.1,
  editShare: 0.3,
  ...overrides,
});

describe('fleet simulation (smoke size)', () => {
  it('never asks Strava for more than its limits, even when the fleet needs more than they allow', async () => {
    // 60 athletes at a tenth of the default limits: demand exceeds the budget.
    const result = await simulateFleet(base({ limits: { fifteenMinute: 10, daily: 100 } }));
    expect(result.over429).toBe(0);
    expect(Math.max(...result.requestsPerDay.total)).toBeLessThanOrEqual(100);
    expect(result.changes).toBeGreaterThan(0);
  }, 120_000);

  it('the fixed 3 h policy backfills every athlete 8 times a day; strava-sync spends less on quiet athletes', async () => {
    const limits = { fifteenMinute: 6000, daily: 60_000 };
    const fixed = await simulateFleet(base({ policy: 'fixed', limits, days: 2, athletes: 200 }));
    const adaptive = await simulateFleet(base({ policy: 'strava-sync', limits, days: 2, athletes: 200 }));
    expect(fixed.backfills).toBeGreaterThanOrEqual(200 * 8 * 2 - 200);
    expect(adaptive.backfills).toBeLessThan(fixed.backfills);
    expect(adaptive.over429 + fixed.over429).toBe(0);
  }, 180_000);

  it('an oracle that backfills only the named profiles often leaves everyone else at the 14-day cap', async () => {
    const limits = { fifteenMinute: 6000, daily: 60_000 };
    const oracle = await simulateFleet(base({ policy: { oracleFastProfiles: ['active'] }, limits, days: 2, athletes: 200 }));
    // About a quarter of the fleet is 'active' (8 backfills a day); the rest get at most their first one.
    expect(oracle.backfills).toBeLessThan(200 * 0.4 * 8 * 2 + 200);
    expect(oracle.backfills).toBeGreaterThan(200 * 0.1 * 8 * 2);
    expect(oracle.over429).toBe(0);
  }, 120_000);
});

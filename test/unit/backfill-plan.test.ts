import { describe, expect, it } from 'vitest';
import {
  CLASS_WEIGHT,
  EVIDENCE_FACTORS,
  MAX_BACKFILL_INTERVAL_MS,
  REQUESTS_PER_BACKFILL,
  backfillIntervalMs,
  nextBackfillDelayMs,
  webhookReliability,
  withJitter,
} from '../../src/workflows/backfill-plan.js';
import type { FleetLoad } from '../../src/domain/fleet-load.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const fleet = (athletes: Partial<FleetLoad['athletes']>, athleteClass: FleetLoad['athleteClass'], dailyBackgroundBudget = 600): FleetLoad => ({
  athletes: { active: 0, recent: 0, dormant: 0, ...athletes },
  athleteClass,
  dailyBackgroundBudget,
});

/** Requests a day the fleet spends when each class backfills at the interval the planner gives it. */
function dailyDemand(base: number, load: Omit<FleetLoad, 'athleteClass'>): number {
  let total = 0;
  for (const c of ['active', 'recent', 'dormant'] as const) {
    const interval = backfillIntervalMs(base, { ...load, athleteClass: c });
    total += load.athletes[c] * (DAY / interval) * REQUESTS_PER_BACKFILL;
  }
  return total;
}

describe('backfillIntervalMs', () => {
  it('keeps the base interval while the whole fleet fits in the daily background budget', () => {
    // 20 athletes x 8 backfills x 1.2 requests = 192 requests a day, under 600.
    expect(backfillIntervalMs(3 * HOUR, fleet({ active: 10, dormant: 10 }, 'dormant'))).toBe(3 * HOUR);
  });

  it('stretches an over-budget fleet so that its demand meets the budget, active athletes least', () => {
    const load = fleet({ active: 400, recent: 300, dormant: 300 }, 'active', 600);
    const active = backfillIntervalMs(3 * HOUR, load);
    const recent = backfillIntervalMs(3 * HOUR, { ...load, athleteClass: 'recent' });
    const dormant = backfillIntervalMs(3 * HOUR, { ...load, athleteClass: 'dormant' });
    expect(active).toBeGreaterThan(3 * HOUR);
    expect(recent / active).toBeCloseTo(CLASS_WEIGHT.recent / CLASS_WEIGHT.active, 5);
    expect(dormant / active).toBeCloseTo(CLASS_WEIGHT.dormant / CLASS_WEIGHT.active, 5);
    expect(dailyDemand(3 * HOUR, load)).toBeCloseTo(600, 0);
  });

  it('never plans a backfill further away than the two-week cap, however large the fleet', () => {
    expect(backfillIntervalMs(3 * HOUR, fleet({ dormant: 1_000_000 }, 'dormant', 600))).toBe(MAX_BACKFILL_INTERVAL_MS);
  });

  it('treats a zero or negative budget as one request a day instead of dividing by zero', () => {
    const interval = backfillIntervalMs(3 * HOUR, fleet({ active: 10 }, 'active', 0));
    // 10 athletes x 8 backfills x 1.2 requests = 96 a day against a budget of 1: stretched 96 times.
    expect(interval).toBe(3 * HOUR * 96);
  });
});

describe('withJitter', () => {
  it('spreads an interval by at most the jitter fraction either way', () => {
    expect(withJitter(10 * HOUR, 0.1, 0)).toBe(9 * HOUR);
    expect(withJitter(10 * HOUR, 0.1, 0.5)).toBe(10 * HOUR);
    expect(withJitter(10 * HOUR, 0.1, 0.999999)).toBeLessThanOrEqual(11 * HOUR);
    expect(withJitter(10 * HOUR, 0.1, 0.999999)).toBeGreaterThan(10.99 * HOUR);
  });

  it('never returns less than a second', () => {
    expect(withJitter(10, 0.5, 0)).toBe(1_000);
  });
});

describe('nextBackfillDelayMs', () => {
  const huge = fleet({ dormant: 1_000_000 }, 'dormant', 600);

  it('never plans beyond the two-week cap, whatever the jitter draws', () => {
    for (const random of [0, 0.25, 0.5, 0.75, 0.999999]) {
      expect(nextBackfillDelayMs(3 * HOUR, huge, 0.1, random)).toBeLessThanOrEqual(MAX_BACKFILL_INTERVAL_MS);
    }
  });

  it('still spreads capped athletes out instead of putting them all on the cap', () => {
    const low = nextBackfillDelayMs(3 * HOUR, huge, 0.1, 0);
    const high = nextBackfillDelayMs(3 * HOUR, huge, 0.1, 0.999999);
    expect(high - low).toBeGreaterThan(DAY);
  });

  it('is the jittered budget-aware interval when the cap is far away', () => {
    const load = fleet({ active: 10 }, 'active');
    expect(nextBackfillDelayMs(3 * HOUR, load, 0.1, 0)).toBe(withJitter(3 * HOUR, 0.1, 0));
  });
});

describe('webhookReliability and the evidence factors', () => {
  const evidence = (viaWebhook: number, repairs: number, subscriptionSilent = false) => ({ viaWebhook, repairs, subscriptionSilent });

  it('keeps every class on the base interval without enough evidence', () => {
    expect(webhookReliability(undefined)).toBe('uncertain');
    expect(webhookReliability(evidence(10, 0))).toBe('uncertain');
    const load = { ...fleet({ active: 1, recent: 1, dormant: 1 }, 'dormant'), evidence: evidence(5, 0) };
    expect(backfillIntervalMs(3 * HOUR, load)).toBe(3 * HOUR);
  });

  it('stretches rarely-changing athletes while webhooks are reliable, and never active ones', () => {
    const reliable = evidence(990, 10); // 1 % of changes found only by repairs
    expect(webhookReliability(reliable)).toBe('reliable');
    const load = (athleteClass: FleetLoad['athleteClass']) => ({ ...fleet({ active: 10, recent: 10, dormant: 10 }, athleteClass), evidence: reliable });
    expect(backfillIntervalMs(3 * HOUR, load('active'))).toBe(3 * HOUR);
    expect(backfillIntervalMs(3 * HOUR, load('recent'))).toBe(3 * HOUR * EVIDENCE_FACTORS.reliable.recent);
    expect(backfillIntervalMs(3 * HOUR, load('dormant'))).toBe(3 * HOUR * EVIDENCE_FACTORS.reliable.dormant);
  });

  it('tightens active athletes at once when repairs appear or the subscription falls silent', () => {
    expect(webhookReliability(evidence(70, 30))).toBe('unreliable');
    expect(webhookReliability(evidence(1000, 0, true))).toBe('unreliable');
    const load = { ...fleet({ active: 10 }, 'active'), evidence: evidence(70, 30) };
    expect(backfillIntervalMs(3 * HOUR, load)).toBe(1.5 * HOUR);
  });

  it('between the thresholds behaves as with no evidence', () => {
    expect(webhookReliability(evidence(90, 10))).toBe('uncertain');
  });

  it('still fits an over-budget fleet into the budget with the evidence factors applied', () => {
    const load = { ...fleet({ active: 400, recent: 300, dormant: 300 }, 'active', 600), evidence: evidence(990, 10) };
    expect(dailyDemand(3 * HOUR, load)).toBeCloseTo(600, 0);
  });
});

import { describe, expect, it } from 'vitest';
import { defer, nextTokenAt, refill, take } from '../../src/workflows/fetch-budget.js';
import { clampEventTime } from '../../src/domain/event-time.js';

/** The pure parts of "events are hints": the per-athlete fetch bucket and the event time clamp. */

const shape = { capacity: 3, refillMs: 1_000 };

describe('event fetch budget (token bucket)', () => {
  it('starts full, empties, and refills one token per interval up to the capacity', () => {
    let budget = null;
    const taken: boolean[] = [];
    for (let i = 0; i < 4; i++) {
      const result = take(budget, shape, 10_000);
      budget = result.budget;
      taken.push(result.taken);
    }
    expect(taken).toEqual([true, true, true, false]);
    expect(nextTokenAt(budget, shape, 10_500)).toBe(11_000);
    expect(refill(budget, shape, 12_400).tokens).toBe(2);
    expect(refill(budget, shape, 99_000).tokens).toBe(3);
    // A partly earned token is not lost by taking another.
    const after = take(budget, shape, 11_500).budget;
    expect(after.tokens).toBe(0);
    expect(nextTokenAt(after, shape, 11_500)).toBe(12_000);
  });

  it('keeps the deferred set bounded, a newer event replacing an older one', () => {
    const deferred = {};
    expect(defer(deferred, 1, { eventTime: 10, confirmsDelete: true }, 2)).toBe(true);
    expect(defer(deferred, 1, { eventTime: 12, confirmsDelete: false }, 2)).toBe(true);
    expect(defer(deferred, 1, { eventTime: 11, confirmsDelete: true }, 2)).toBe(true);
    expect(defer(deferred, 2, { eventTime: 10, confirmsDelete: false }, 2)).toBe(true);
    expect(defer(deferred, 3, { eventTime: 10, confirmsDelete: false }, 2)).toBe(false);
    expect(deferred).toEqual({ 1: { eventTime: 12, confirmsDelete: false }, 2: { eventTime: 10, confirmsDelete: false } });
  });
});

describe('event time clamp', () => {
  it('bounds any event_time to [0, now] and reads a non-number as now', () => {
    const now = 1_700_000_000_500;
    expect(clampEventTime(1_600_000_000, now)).toBe(1_600_000_000);
    expect(clampEventTime(Number.MAX_SAFE_INTEGER, now)).toBe(1_700_000_000);
    expect(clampEventTime(4_922_000_000, now)).toBe(1_700_000_000);
    expect(clampEventTime(-5, now)).toBe(0);
    expect(clampEventTime(Number.NaN, now)).toBe(1_700_000_000);
    expect(clampEventTime(Infinity, now)).toBe(1_700_000_000);
    expect(clampEventTime('12' as unknown as number, now)).toBe(1_700_000_000);
  });
});

import type { DeferredFetch, FetchBudget } from './athlete-state.js';

/**
 * The per-athlete token bucket of event-triggered Strava fetches, as pure functions over plain JSON (it is
 * carried across continue-as-new). Webhook events are unsigned: whatever they trigger must be bounded, and a
 * bucket still lets a normal athlete's few events a day through at once.
 */

export interface BudgetShape {
  capacity: number;
  refillMs: number;
}

/** The bucket with the tokens earned since it was last accounted for (full when never used). */
export function refill(budget: FetchBudget | null, shape: BudgetShape, nowMs: number): FetchBudget {
  if (budget === null) return { tokens: shape.capacity, refilledAt: nowMs };
  if (budget.tokens >= shape.capacity) return { tokens: shape.capacity, refilledAt: nowMs };
  const earned = Math.floor(Math.max(0, nowMs - budget.refilledAt) / shape.refillMs);
  if (earned === 0) return budget;
  const tokens = Math.min(shape.capacity, budget.tokens + earned);
  return { tokens, refilledAt: tokens >= shape.capacity ? nowMs : budget.refilledAt + earned * shape.refillMs };
}

/** Takes one token if there is one; returns the new bucket and whether a token was taken. */
export function take(budget: FetchBudget | null, shape: BudgetShape, nowMs: number): { budget: FetchBudget; taken: boolean } {
  const current = refill(budget, shape, nowMs);
  if (current.tokens < 1) return { budget: current, taken: false };
  return { budget: { ...current, tokens: current.tokens - 1 }, taken: true };
}

/** Epoch ms at which the next token arrives (nowMs when one is available). */
export function nextTokenAt(budget: FetchBudget | null, shape: BudgetShape, nowMs: number): number {
  const current = refill(budget, shape, nowMs);
  return current.tokens >= 1 ? nowMs : current.refilledAt + shape.refillMs;
}

/**
 * Adds an activity to the bounded deferred set (a newer event about it replaces the older). Returns false
 * when the set is full: the caller falls back to a list of the recent window.
 */
export function defer(deferred: Record<string, DeferredFetch>, activityId: number, entry: DeferredFetch, max: number): boolean {
  const key = String(activityId);
  const known = deferred[key];
  if (known !== undefined) {
    if (entry.eventTime >= known.eventTime) deferred[key] = entry;
    return true;
  }
  if (Object.keys(deferred).length >= max) return false;
  deferred[key] = entry;
  return true;
}

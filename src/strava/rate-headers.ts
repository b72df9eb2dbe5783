/**
 * Strava's four rate-limit headers, each "<15-minute value>,<daily value>":
 * X-RateLimit-Limit / X-RateLimit-Usage (overall) and X-ReadRateLimit-Limit / X-ReadRateLimit-Usage (reads).
 * Everything this service calls is a read, so the governor budgets on the read pair.
 */
import { DAY_MS, MINUTE_MS } from '../domain/durations.js';

export interface WindowCounts {
  fifteenMinute: number;
  daily: number;
}

export interface RateLimitPair {
  limit: WindowCounts;
  usage: WindowCounts;
}

export interface RateUsage {
  overall?: RateLimitPair;
  read?: RateLimitPair;
}

interface HeaderSource {
  get(name: string): string | null;
}

function parseCounts(value: string | null): WindowCounts | undefined {
  if (value === null) return undefined;
  const parts = value.split(',').map((p) => p.trim());
  if (parts.length !== 2 || !parts.every((p) => /^\d+$/.test(p))) return undefined;
  return { fifteenMinute: Number(parts[0]), daily: Number(parts[1]) };
}

function parsePair(headers: HeaderSource, limitName: string, usageName: string): RateLimitPair | undefined {
  const limit = parseCounts(headers.get(limitName));
  const usage = parseCounts(headers.get(usageName));
  return limit && usage ? { limit, usage } : undefined;
}

/** Returns undefined when the response carries no (well-formed) rate-limit headers, e.g. OAuth endpoints. */
export function parseRateHeaders(headers: HeaderSource): RateUsage | undefined {
  const overall = parsePair(headers, 'x-ratelimit-limit', 'x-ratelimit-usage');
  const read = parsePair(headers, 'x-readratelimit-limit', 'x-readratelimit-usage');
  if (!overall && !read) return undefined;
  return { ...(overall ? { overall } : {}), ...(read ? { read } : {}) };
}

/** The pair that bounds this service's calls: reads, falling back to overall when a response has only that. */
export function budgetPair(usage: RateUsage): RateLimitPair | undefined {
  return usage.read ?? usage.overall;
}

export const FIFTEEN_MINUTES_MS = 15 * MINUTE_MS;

/** Start of the 15-minute window (aligned to :00/:15/:30/:45 UTC) containing `ms`. */
export function windowStart(ms: number): number {
  return Math.floor(ms / FIFTEEN_MINUTES_MS) * FIFTEEN_MINUTES_MS;
}

/** Start of the UTC day containing `ms` (epoch ms has no leap seconds, so days are exact multiples). */
export function dayStart(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** Whether the response's usage shows the day's count spent (so a 429 lasts until UTC midnight). */
export function dayExhausted(usage: RateUsage | undefined): boolean {
  const pair = usage && budgetPair(usage);
  return pair !== undefined && pair.usage.daily >= pair.limit.daily;
}

/** How long after a 429 to retry: the next 15-minute boundary, or UTC midnight when the daily count is spent. */
export function retryAfterFor429(nowMs: number, usage: RateUsage | undefined): number {
  const next = dayExhausted(usage) ? dayStart(nowMs) + DAY_MS : windowStart(nowMs) + FIFTEEN_MINUTES_MS;
  return Math.max(1, next - nowMs);
}

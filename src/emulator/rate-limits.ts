/**
 * Strava's per-application rate limits: 15-minute windows aligned to :00/:15/:30/:45 UTC and a daily window
 * reset at midnight UTC, on the emulator clock. Requests refused by a limit still count toward the daily usage.
 */
import { DAY_MS, MINUTE_MS } from '../domain/durations.js';
import type { RateLimits } from './options.js';

const FIFTEEN_MIN_MS = 15 * MINUTE_MS;

interface Usage {
  overall: number;
  read: number;
}

export interface RateDecision {
  limited: boolean;
  headers: Record<string, string>;
}

export class RateLimiter {
  private windowStart = -1;
  private dayStart = -1;
  private window: Usage = { overall: 0, read: 0 };
  private day: Usage = { overall: 0, read: 0 };

  constructor(public limits: RateLimits) {}

  private roll(nowMs: number): void {
    const windowStart = Math.floor(nowMs / FIFTEEN_MIN_MS) * FIFTEEN_MIN_MS;
    const dayStart = Math.floor(nowMs / DAY_MS) * DAY_MS;
    if (windowStart !== this.windowStart) {
      this.windowStart = windowStart;
      this.window = { overall: 0, read: 0 };
    }
    if (dayStart !== this.dayStart) {
      this.dayStart = dayStart;
      this.day = { overall: 0, read: 0 };
    }
  }

  /** Counts one request (every call this emulator serves is a "read": not an upload) and decides on it. */
  hit(nowMs: number, forceLimited = false): RateDecision {
    this.roll(nowMs);
    const { overall, read } = this.limits;
    const limited =
      forceLimited ||
      this.window.overall >= overall.fifteenMinute ||
      this.window.read >= read.fifteenMinute ||
      this.day.overall >= overall.daily ||
      this.day.read >= read.daily;
    if (!limited) {
      this.window.overall++;
      this.window.read++;
    }
    this.day.overall++;
    this.day.read++;
    return { limited, headers: this.headers() };
  }

  headers(): Record<string, string> {
    const { overall, read } = this.limits;
    return {
      'X-RateLimit-Limit': `${overall.fifteenMinute},${overall.daily}`,
      'X-RateLimit-Usage': `${this.window.overall},${this.day.overall}`,
      'X-ReadRateLimit-Limit': `${read.fifteenMinute},${read.daily}`,
      'X-ReadRateLimit-Usage': `${this.window.read},${this.day.read}`,
    };
  }

  usage(nowMs: number): { fifteenMinute: Usage; daily: Usage; windowStartMs: number; dayStartMs: number } {
    this.roll(nowMs);
    return { fifteenMinute: { ...this.window }, daily: { ...this.day }, windowStartMs: this.windowStart, dayStartMs: this.dayStart };
  }
}

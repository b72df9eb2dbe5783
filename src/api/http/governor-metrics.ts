import { Gauge, type Registry } from 'prom-client';
import type { RateSnapshot } from '../../strava/rate-governor.js';
import { perScrape } from './per-scrape.js';

/**
 * Rate governor usage and limits, read from PostgreSQL at scrape time (the budget is shared by every
 * process, so any API instance reports the application-wide numbers).
 */
export function registerGovernorMetrics(registry: Registry, snapshot: () => Promise<RateSnapshot>): void {
  const read = perScrape(snapshot);
  const gauge = (name: string, help: string, pick: (s: RateSnapshot, set: (value: number, labels?: Record<string, string>) => void) => void, labelNames: string[] = []) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        const snap = await read();
        if (!snap) return;
        pick(snap, (value, labels) => (labels ? this.set(labels, value) : this.set(value)));
      },
    });
  gauge('strava_rate_window_used', 'Strava read requests used in the current 15-minute window', (s, set) => set(s.window.used));
  gauge('strava_rate_window_limit', 'Strava read request limit per 15-minute window', (s, set) => set(s.window.limit));
  gauge('strava_rate_day_used', 'Strava read requests used today (UTC)', (s, set) => set(s.day.used));
  gauge('strava_rate_day_limit', 'Strava read request daily limit', (s, set) => set(s.day.limit));
  gauge(
    'strava_rate_day_used_by_priority',
    'Strava requests used today by priority',
    (s, set) => {
      for (const [priority, used] of Object.entries(s.usedByPriority)) set(used, { priority });
    },
    ['priority'],
  );
  gauge(
    'strava_rate_refused',
    'Governor refusals by priority (this process)',
    (s, set) => {
      for (const [priority, count] of Object.entries(s.refused)) set(count, { priority });
    },
    ['priority'],
  );
}

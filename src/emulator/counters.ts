/** What the emulator has served and sent, for tests and benchmarks to assert on (GET /_emulator/counters). */
export interface WebhookCounters {
  /** Events produced (activity create/update/delete, deauthorization) while a subscription existed. */
  events: number;
  /** Events produced with no subscription: nobody to tell. */
  withoutSubscription: number;
  /** Distinct deliveries scheduled (events + duplicates - drops). */
  deliveries: number;
  /** HTTP POSTs made, including retries. */
  attempts: number;
  /** Deliveries answered 200. */
  delivered: number;
  /** Deliveries that gave up after the last attempt. */
  failed: number;
  dropped: number;
  duplicated: number;
  /** Deliveries scheduled or in flight right now. */
  pending: number;
}

export interface Counters {
  /** "GET /api/v3/activities/{id}" -> status -> count. */
  requests: Record<string, Record<string, number>>;
  rateLimited: number;
  /** Of rateLimited: 429s served because of the forced period (faults.rateLimitedUntil), not a spent limit. */
  rateLimitedForced: number;
  serverErrors: number;
  forbidden: number;
  webhooks: WebhookCounters;
}

export function emptyCounters(): Counters {
  return {
    requests: {},
    rateLimited: 0,
    rateLimitedForced: 0,
    serverErrors: 0,
    forbidden: 0,
    webhooks: { events: 0, withoutSubscription: 0, deliveries: 0, attempts: 0, delivered: 0, failed: 0, dropped: 0, duplicated: 0, pending: 0 },
  };
}

export function countRequest(counters: Counters, endpoint: string, status: number): void {
  const byStatus = (counters.requests[endpoint] ??= {});
  byStatus[status] = (byStatus[status] ?? 0) + 1;
}

import { Context } from '@temporalio/activity';
import { noopMetricMeter, type MetricMeter } from '@temporalio/common';
import type { RefreshOutcome, RunOutcome, SyncTrigger } from '../domain/sync-history.js';

/**
 * The sync history's Prometheus metrics, reported through the Temporal SDK's metric meter: inside an activity it
 * is the worker runtime's meter (Prometheus on WORKER_METRICS_PORT, src/worker/runtime.ts), tagged by the SDK with
 * namespace, taskQueue and activityType. Every label here is a closed set: no athlete or activity id ever.
 * Outside an activity (unit tests, the API process) nothing is reported.
 */
export const SYNC_METRICS = {
  runs: 'strava_sync_runs_total',
  changes: 'strava_sync_changes_total',
  eventToRow: 'strava_sync_latency_event_to_row_seconds',
  receiptToRow: 'strava_sync_latency_receipt_to_row_seconds',
  tokenRefreshes: 'strava_token_refreshes_total',
} as const;

/** Bucket bounds (seconds) of the two latency histograms: a webhook change normally lands within seconds. */
export const LATENCY_BUCKETS_SECONDS = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 10800, 21600, 86400];

function meter(): MetricMeter {
  try {
    return Context.current().metricMeter;
  } catch {
    return noopMetricMeter;
  }
}

export interface RunMeasure {
  trigger: SyncTrigger;
  outcome: RunOutcome;
  failureType: string | null;
  changes: number;
  eventToRowMs: number | null;
  receiptToRowMs: number | null;
}

export function countRun(run: RunMeasure): void {
  const m = meter();
  m.createCounter(SYNC_METRICS.runs, '', 'Attempts of sync activities by trigger, outcome and failure type').add(1, {
    trigger: run.trigger,
    outcome: run.outcome,
    failure_type: run.failureType ?? 'none',
  });
  if (run.changes > 0) {
    m.createCounter(SYNC_METRICS.changes, '', 'Changes a webhook announces (added, renamed/retyped/privacy, removed), by the trigger that wrote them').add(run.changes, {
      trigger: run.trigger,
    });
  }
  if (run.eventToRowMs !== null) {
    m.createHistogram(SYNC_METRICS.eventToRow, 'float', 's', "Strava's event_time to the row committed").record(run.eventToRowMs / 1000);
  }
  if (run.receiptToRowMs !== null) {
    m.createHistogram(SYNC_METRICS.receiptToRow, 'float', 's', 'Webhook receipt to the row committed').record(run.receiptToRowMs / 1000);
  }
}

export function countTokenRefresh(outcome: RefreshOutcome): void {
  meter().createCounter(SYNC_METRICS.tokenRefreshes, '', 'Token refreshes sent to Strava by outcome').add(1, { outcome });
}

/** The histogram bucket overrides for the worker runtime's Prometheus exporter. */
export const SYNC_HISTOGRAM_BUCKETS: Record<string, number[]> = {
  [SYNC_METRICS.eventToRow]: LATENCY_BUCKETS_SECONDS,
  [SYNC_METRICS.receiptToRow]: LATENCY_BUCKETS_SECONDS,
};

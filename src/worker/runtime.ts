import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import { SYNC_HISTOGRAM_BUCKETS } from '../activities/sync-metrics.js';

const SDK_LEVELS: Record<string, LogLevel> = {
  trace: 'TRACE',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
  fatal: 'ERROR',
  silent: 'ERROR',
};

/**
 * Installs the Temporal runtime once per process: SDK logs at the configured level and the Core SDK's
 * Prometheus metrics (task slots, poll latency, workflow/activity counts) on metricsPort at /metrics, together with
 * the sync history's counters and latency histograms the activities report (src/activities/sync-metrics.ts).
 */
export function installWorkerRuntime(options: { metricsPort: number; logLevel: string }): void {
  Runtime.install({
    logger: new DefaultLogger(SDK_LEVELS[options.logLevel] ?? 'INFO'),
    telemetryOptions: { metrics: { prometheus: { bindAddress: `0.0.0.0:${options.metricsPort}`, histogramBucketOverrides: SYNC_HISTOGRAM_BUCKETS } } },
  });
}

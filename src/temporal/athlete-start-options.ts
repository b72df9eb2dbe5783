import type { WorkflowStartOptions } from '@temporalio/client';
import type { Config } from '../config.js';
import type { FleetSettings } from '../domain/fleet-settings.js';
import type { AthleteSyncOptions } from '../workflows/athlete-state.js';
import type { athleteSync } from '../workflows/athlete-sync.js';
import { settingsVersionKey, stravaAthleteIdKey, syncStateKey } from '../workflows/search-attributes.js';

/** The workflow id of an athlete's one workflow. */
export const athleteWorkflowId = (athleteId: number): string => `athlete-${athleteId}`;

/** The settings the athlete gateway reads from the environment. */
export type AthleteGatewayConfig = Pick<
  Config,
  'TEMPORAL_TASK_QUEUE' | 'BACKFILL_INTERVAL' | 'BACKFILL_OVERLAP' | 'BACKFILL_ADAPTIVE' | 'FOCUS_STALE_AFTER' | 'CONTINUE_AS_NEW_AFTER_EVENTS'
> &
  Partial<Pick<Config, 'EVENT_FETCH_CAPACITY' | 'EVENT_FETCH_REFILL'>>;

/** The workflow options that come from the environment and the operator's settings; the rest keep the workflow's defaults. */
function athleteSyncOptions(config: AthleteGatewayConfig, settings: FleetSettings | undefined): Partial<AthleteSyncOptions> {
  return {
    backfillIntervalMs: settings?.backfillIntervalMs ?? config.BACKFILL_INTERVAL,
    backfillOverlapMs: config.BACKFILL_OVERLAP,
    adaptiveBackfill: config.BACKFILL_ADAPTIVE,
    focusStaleAfterMs: settings?.focusStaleAfterMs ?? config.FOCUS_STALE_AFTER,
    continueAsNewAfterEvents: config.CONTINUE_AS_NEW_AFTER_EVENTS,
    ...(config.EVENT_FETCH_CAPACITY !== undefined ? { eventFetchCapacity: config.EVENT_FETCH_CAPACITY } : {}),
    ...(config.EVENT_FETCH_REFILL !== undefined ? { eventFetchRefillMs: config.EVENT_FETCH_REFILL } : {}),
  };
}

/**
 * Start options of `athlete-<id>`: one workflow per athlete, so every start is USE_EXISTING (a running
 * workflow is messaged, never duplicated; a closed one, e.g. after a revocation, is started afresh). A new
 * workflow starts with the current settings (`settings`, when known) and says so in SettingsVersion, so one that
 * starts with an older version is found and sent the newer one (src/api/settings/settings-sync.ts).
 */
export function athleteStartOptions(
  config: AthleteGatewayConfig,
  athleteId: number,
  overrides: Partial<AthleteSyncOptions> = {},
  settings?: FleetSettings,
) {
  return {
    workflowId: athleteWorkflowId(athleteId),
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    args: [
      {
        athleteId,
        options: { ...athleteSyncOptions(config, settings), ...overrides },
        ...(settings ? { fleet: { version: settings.version, paused: settings.paused } } : {}),
      },
    ] as [Parameters<typeof athleteSync>[0]],
    typedSearchAttributes: [
      { key: stravaAthleteIdKey, value: String(athleteId) },
      { key: syncStateKey, value: 'importing' },
      ...(settings ? [{ key: settingsVersionKey, value: settings.version }] : []),
    ],
    // What the Temporal UI shows for the workflow before anything else: ids only, never a name.
    staticSummary: `Strava athlete ${athleteId}: activity sync`,
    staticDetails: ATHLETE_WORKFLOW_DETAILS,
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
  } satisfies WorkflowStartOptions<typeof athleteSync>;
}

const ATHLETE_WORKFLOW_DETAILS = [
  "Keeps one athlete's Strava activities synced into PostgreSQL: imports the history, applies webhook events,",
  'backfills on a durable timer, answers app focus and sync now. **Current details** show what it does now and',
  'what comes next; the `status` query has every counter. Search attributes: `SyncState`, `LastSyncAt`,',
  '`SettingsVersion`. Operators pause it with `POST /athletes/<id>/pause` (docs/operations.md, "Temporal UI").',
].join('\n');

/**
 * Plain data types shared by the workflow, its activities and the API. Workflow code imports these as types
 * only, so nothing here may be needed at run time inside the workflow bundle.
 */

export const SYNC_STATES = ['importing', 'idle', 'syncing', 'rate_limited', 'needs_reauth', 'paused', 'revoked'] as const;
export type SyncState = (typeof SYNC_STATES)[number];

export type Priority = 'realtime' | 'interactive' | 'background';

/** What a Strava webhook event is about, and what happened to it (docs/strava-api.md, "Webhooks"). */
export const WEBHOOK_OBJECT_TYPES = ['activity', 'athlete'] as const;
export type WebhookObjectType = (typeof WEBHOOK_OBJECT_TYPES)[number];
export const WEBHOOK_ASPECT_TYPES = ['create', 'update', 'delete'] as const;
export type WebhookAspectType = (typeof WEBHOOK_ASPECT_TYPES)[number];

/**
 * A Strava webhook event as it travels to the workflow. It carries ids and flags only: an activity title is
 * personal data and must not land in workflow history, so `updatedFields` lists the changed keys instead.
 */
export interface StravaEventSignal {
  objectType: WebhookObjectType;
  objectId: number;
  aspectType: WebhookAspectType;
  ownerId: number;
  eventTime: number;
  updatedFields: string[];
  /** `updates.private` as a boolean when the event is a privacy flip. */
  private?: boolean;
  /** `updates.authorized === "false"`: the athlete revoked access. */
  deauthorized?: boolean;
  /** A digest of the changed values (never the values): tells apart two different changes in the same second. */
  updatesDigest?: string;
  /** When the API received the event (epoch ms): the sync history's receipt -> row latency starts here. */
  receivedAt?: number;
}

/**
 * What a sync-now lists: `quick` the recent window (from the last successful sync, minus the overlap), `full` the
 * backfill's window (from the last backfill, minus the overlap) and it then counts as that backfill.
 */
export const SYNC_NOW_MODES = ['quick', 'full'] as const;
export type SyncNowMode = (typeof SYNC_NOW_MODES)[number];

/** The syncNow update's argument. Optional: callers and histories from before it existed send none (quick). */
export interface SyncNowRequest {
  mode?: SyncNowMode;
}

export interface SyncResult {
  added: number;
  updated: number;
  deleted: number;
  requests: number;
  durationMs: number;
  /** Access tokens refreshed on the way (absent in results recorded before it was counted). */
  tokensRefreshed?: number;
  /** The window listed (absent in results recorded before modes existed: quick). */
  mode?: SyncNowMode;
}

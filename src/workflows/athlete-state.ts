import type { PauseCause } from '../domain/fleet-settings.js';
import type { Priority, StravaEventSignal, SyncState } from '../domain/sync-types.js';
import { DEFAULT_SYNC_OPTIONS, type AthleteSyncOptions } from '../domain/sync-options.js';

// Re-exported for the client side and tests that import them from here; they are defined once, in src/domain.
export { DEFAULT_SYNC_OPTIONS, type AthleteSyncOptions };

/** The state the athlete workflow carries (workflow-only types); the options both sides share are in src/domain. */

export interface ImportProgress {
  done: boolean;
  /** Cursor: list activities that started before this epoch second (null: from the newest). */
  before: number | null;
  pages: number;
  imported: number;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface NotFoundRetry {
  attempt: number;
  /** Epoch ms of the next fetch. */
  dueAt: number;
  eventTime: number;
  /** Webhook receipt (epoch ms) of the event, for the sync history's latency. */
  receivedAt?: number | undefined;
}

/** An activity an event asked about while the fetch budget was empty. */
export interface DeferredFetch {
  /** Clamped event_time (s) of the newest event about it. */
  eventTime: number;
  /** The newest event was a delete: a 404 removes the activity, a 200 proves the delete stale or forged. */
  confirmsDelete: boolean;
  /** Webhook receipt (epoch ms) of the newest event, for the sync history's latency. */
  receivedAt?: number | undefined;
}

/** Token bucket of event-triggered Strava fetches. */
export interface FetchBudget {
  tokens: number;
  /** Epoch ms up to which refills are accounted for. */
  refilledAt: number;
}

/** A range re-sync waiting or running (POST /athletes/:id/resync): ids, times and counts only. */
export interface ResyncJob {
  id: string;
  /** The window, epoch seconds, both bounds exclusive (as Strava filters). */
  after: number;
  before: number;
  /** The next page lists activities that started after this (epoch s): pages come oldest first. */
  cursor: number;
  pages: number;
  listed: number;
  added: number;
  updated: number;
  requestedAt: string;
  startedAt: string | null;
}

export interface ResyncOutcome extends Omit<ResyncJob, 'cursor'> {
  deleted: number;
  finishedAt: string;
}

export interface SyncCounters {
  eventsReceived: number;
  eventsHandled: number;
  duplicateEvents: number;
  droppedEvents: number;
  staleEvents: number;
  /** Delete events Strava contradicted (the activity is still there): stale or forged. */
  staleDeletes: number;
  /** Event fetches postponed because the per-athlete budget was empty. */
  fetchesDeferred: number;
  /** Lists run instead of event fetches when the budget ran out. */
  burstLists: number;
  fetches: number;
  notFoundGaveUp: number;
  repairs: number;
  requests: number;
  backfills: number;
  quickSyncs: number;
  focusSignals: number;
  focusSyncs: number;
  syncNows: number;
  staleDeauthorizations: number;
  rateLimitWaits: number;
  continuedAsNew: number;
  /** Range re-syncs finished, and requests dropped because MAX_QUEUED_RESYNCS were waiting. */
  resyncs: number;
  resyncsDropped: number;
}

export interface LastError {
  type: string;
  message: string;
  at: string;
}

/** Everything the workflow carries across continue-as-new: plain JSON only (no Map, no Date, no class). */
export interface AthleteWorkflowState {
  state: SyncState;
  /** The state last written to athletes.state (resting states only, never `syncing`). */
  persistedState: SyncState | null;
  auth: 'ok' | 'needs_reauth';
  lastSyncAt: string | null;
  lastBackfillAt: string | null;
  nextBackfillAt: string | null;
  import: ImportProgress;
  pendingEvents: StravaEventSignal[];
  /** Keyed by activity id (string keys: plain JSON). */
  notFound: Record<string, NotFoundRetry>;
  /** Dedupe keys of recently accepted events, oldest first, bounded by dedupeKeep. */
  recentEventKeys: string[];
  /** activity id -> event_time (s) of the delete; bounded; the database table is the durable copy. */
  tombstones: Record<string, number>;
  /** Budget of event-triggered fetches (null: full; set at the first fetch). */
  fetchBudget: FetchBudget | null;
  /** activity id -> what to fetch once a token is free; bounded by deferredFetchesKeep. */
  deferred: Record<string, DeferredFetch>;
  /** A list of the recent window is owed instead of event fetches (budget empty or deferred set full). */
  burstListPending: boolean;
  /** Epoch ms before which no further burst list runs. */
  burstListNotBefore: number | null;
  /** Epoch ms until which calls of a priority would be refused by the governor. */
  rateLimitedUntil: Partial<Record<Priority, number>>;
  /** Epoch ms before which background work (import/backfill) is not retried after an unexpected failure. */
  backgroundHoldUntil: number | null;
  pausedUntil: number | null;
  pausedBackoffMs: number | null;
  focusPending: boolean;
  catchUpPending: boolean;
  deauthPending: boolean;
  disconnectPending: boolean;
  counters: SyncCounters;
  lastError: LastError | null;
  /** Range re-syncs, oldest first; the first one runs (resync-steps.ts). */
  resyncs: ResyncJob[];
  lastResync: ResyncOutcome | null;
  /** When an operator paused this athlete's auto sync (pause signal); null: not paused by an operator. */
  operatorPausedAt: string | null;
  /** The settings' fleet-wide pause, as last received. */
  fleetPaused: boolean;
  /** Version of the settings last applied (0: the start options' values only). */
  settingsVersion: number;
  /** The athlete's stored activities as the last list counted them, moved by the fetches and removals since (null: not counted yet). */
  activitiesStored: number | null;
  /** What the last successful list ran for (import, backfill, sync now, app focus, catch up, ...). */
  lastSyncTrigger: string | null;
}

/** The settings a workflow starts with besides its options (the intervals travel in `options`). */
export interface FleetStart {
  version: number;
  paused: boolean;
}

export interface AthleteSyncInput {
  athleteId: number;
  /** Missing fields take DEFAULT_SYNC_OPTIONS (a start from a webhook may carry no options at all). */
  options?: Partial<AthleteSyncOptions>;
  /** Present when continuing as new. */
  carried?: AthleteWorkflowState;
  /** The settings version and fleet pause at start (absent: version 0, not paused); ignored when carried. */
  fleet?: FleetStart;
}

/** The answer of the `status` query: ids, states, times and counts only. */
export interface AthleteStatus {
  athleteId: number;
  state: SyncState;
  lastSyncAt: string | null;
  lastBackfillAt: string | null;
  nextBackfillAt: string | null;
  import: { done: boolean; pages: number; imported: number; before: number | null };
  pendingEvents: number;
  pendingNotFoundRetries: number;
  /** Activities waiting for a token of the event fetch budget. */
  deferredFetches: number;
  /** Tokens left in the event fetch budget, as of the workflow's last step (a query does not move its clock). */
  fetchTokens: number;
  rateLimitedUntil: string | null;
  pausedUntil: string | null;
  counters: SyncCounters;
  lastError: LastError | null;
  /** The range re-sync in progress (its window and how far it got), and how many wait behind it. */
  resync: (Omit<ResyncJob, 'cursor'> & { listedUpTo: string }) | null;
  queuedResyncs: number;
  lastResync: ResyncOutcome | null;
  /** Why auto sync is paused (operator before fleet before Strava's 403), null when it is not. */
  pausedBy: PauseCause | null;
  operatorPausedAt: string | null;
  /** The settings the workflow runs with now. */
  settings: { version: number; backfillIntervalMs: number; focusStaleAfterMs: number; fleetPaused: boolean };
  activitiesStored: number | null;
  lastSyncTrigger: string | null;
}

export function emptyCounters(): SyncCounters {
  return {
    eventsReceived: 0,
    eventsHandled: 0,
    duplicateEvents: 0,
    droppedEvents: 0,
    staleEvents: 0,
    staleDeletes: 0,
    fetchesDeferred: 0,
    burstLists: 0,
    fetches: 0,
    notFoundGaveUp: 0,
    repairs: 0,
    requests: 0,
    backfills: 0,
    quickSyncs: 0,
    focusSignals: 0,
    focusSyncs: 0,
    syncNows: 0,
    staleDeauthorizations: 0,
    rateLimitWaits: 0,
    continuedAsNew: 0,
    resyncs: 0,
    resyncsDropped: 0,
  };
}

export function initialState(): AthleteWorkflowState {
  return {
    state: 'importing',
    persistedState: null,
    auth: 'ok',
    lastSyncAt: null,
    lastBackfillAt: null,
    nextBackfillAt: null,
    import: { done: false, before: null, pages: 0, imported: 0, startedAt: null, finishedAt: null },
    pendingEvents: [],
    notFound: {},
    recentEventKeys: [],
    tombstones: {},
    fetchBudget: null,
    deferred: {},
    burstListPending: false,
    burstListNotBefore: null,
    rateLimitedUntil: {},
    backgroundHoldUntil: null,
    pausedUntil: null,
    pausedBackoffMs: null,
    focusPending: false,
    catchUpPending: false,
    deauthPending: false,
    disconnectPending: false,
    counters: emptyCounters(),
    lastError: null,
    resyncs: [],
    lastResync: null,
    operatorPausedAt: null,
    fleetPaused: false,
    settingsVersion: 0,
    activitiesStored: null,
    lastSyncTrigger: null,
  };
}

export function resolveOptions(options: Partial<AthleteSyncOptions> | undefined): AthleteSyncOptions {
  const resolved = { ...DEFAULT_SYNC_OPTIONS };
  for (const [key, value] of Object.entries(options ?? {})) {
    if (value !== undefined && value !== null) (resolved as Record<string, unknown>)[key] = value;
  }
  return resolved;
}

/** Older carried states (earlier code versions) may miss fields: fill them so the loop never sees undefined. */
export function reviveState(carried: AthleteWorkflowState | undefined): AthleteWorkflowState {
  if (!carried) return initialState();
  const base = initialState();
  return { ...base, ...carried, import: { ...base.import, ...carried.import }, counters: { ...base.counters, ...carried.counters } };
}

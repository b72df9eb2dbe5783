import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { AthleteActivities, SyncWindowResult } from '../domain/activity-contract.js';
import type { Priority, StravaEventSignal, SyncResult, SyncState } from '../domain/sync-types.js';
import {
  reviveState,
  resolveOptions,
  type AthleteStatus,
  type AthleteSyncInput,
  type AthleteWorkflowState,
} from './athlete-state.js';
import { backfillIntervalMs, withJitter } from './backfill-plan.js';
import { eventKey, planActivityEvents, pushBounded, recordTombstone, type ActivityAction } from './event-plan.js';
import { clampEventTime } from '../domain/event-time.js';
import { defer, nextTokenAt, refill, take, type BudgetShape } from './fetch-budget.js';
import {
  appFocusSignal,
  disconnectSignal,
  reconnectedSignal,
  statusQuery,
  stravaEventSignal,
  syncNowUpdate,
} from './messages.js';
import { FAILURE_TYPES, HANDLED_FAILURE_TYPES } from '../domain/failure-types.js';
import { lastSyncAtKey, stravaAthleteIdKey, syncStateKey } from './search-attributes.js';

// Strava calls: transient errors retry a few times; rate limits, revoked tokens and a forbidden app come back to
// the workflow at once so it can show the state (rate_limited, needs_reauth, paused) and wait durably.
// They heartbeat while running (src/activities/index.ts): a worker that dies mid-call is noticed after the
// heartbeat timeout and the call retried on another worker, instead of only after startToCloseTimeout.
const strava = proxyActivities<AthleteActivities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 6, nonRetryableErrorTypes: HANDLED_FAILURE_TYPES },
});
// Database-only activities: PostgreSQL outages heal, so they retry until they succeed.
const db = proxyActivities<AthleteActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

type Failure =
  | { kind: 'rate_limited'; type: string; message: string; retryAfterMs: number }
  | { kind: 'needs_reauth' | 'app_forbidden' | 'failed'; type: string; message: string };
type Outcome<T> = { ok: true; value: T } | ({ ok: false } & Failure);

interface SyncNowWaiter {
  done: boolean;
  result?: SyncResult;
  failure?: { type: string; message: string };
}

const iso = (ms: number) => new Date(ms).toISOString();

// Patches (workflows started before these changes replay their recorded commands; see docs/workflow.md):
/** A delete event fetches the activity first and removes it only when Strava answers 404. */
const CONFIRM_DELETES_PATCH = 'confirm-deletes-with-strava';
/** Event-triggered fetches take a token of the per-athlete budget; without one they are deferred. */
const EVENT_FETCH_BUDGET_PATCH = 'event-fetch-budget';

/** What a fetch triggered by an event means: a 404 after a create is retried, after a delete it confirms it. */
type FetchPurpose = 'create' | 'update' | 'delete';

/** Classifies an activity failure by its Temporal failure type (no side effects). */
function classify(error: unknown): Failure {
  if (!(error instanceof ActivityFailure)) throw error;
  const cause = error.cause;
  const type = cause instanceof ApplicationFailure ? (cause.type ?? 'Error') : (cause?.name ?? 'Error');
  const message = cause?.message ?? error.message;
  if (type === FAILURE_TYPES.rateLimited) {
    const details = cause instanceof ApplicationFailure ? (cause.details?.[0] as { retryAfterMs?: number } | undefined) : undefined;
    return { kind: 'rate_limited', type, message, retryAfterMs: Math.max(1_000, details?.retryAfterMs ?? 60_000) };
  }
  if (type === FAILURE_TYPES.needsReauth || type === FAILURE_TYPES.missingScope) return { kind: 'needs_reauth', type, message };
  if (type === FAILURE_TYPES.appForbidden) return { kind: 'app_forbidden', type, message };
  return { kind: 'failed', type, message };
}

async function attempt<T>(run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    return { ok: false, ...classify(error) };
  }
}

/**
 * One long-running workflow per connected athlete (`athlete-<id>`): imports the history, applies webhook
 * events, backfills on a durable timer, answers focus and sync-now, and purges on deauthorization.
 * Handlers only record what was asked; the main loop below does all the work, one step at a time.
 */
export async function athleteSync(input: AthleteSyncInput): Promise<void> {
  const { athleteId } = input;
  const opts = resolveOptions(input.options);
  const state: AthleteWorkflowState = reviveState(input.carried);
  const budgetShape: BudgetShape = { capacity: opts.eventFetchCapacity, refillMs: opts.eventFetchRefillMs };
  // Tombstones carried from earlier code may hold a forged future time: none may outrank "now".
  for (const [key, deletedAt] of Object.entries(state.tombstones)) state.tombstones[key] = clampEventTime(deletedAt, Date.now());
  let waiters: SyncNowWaiter[] = [];
  let wake = false;
  let ended = false;

  /** Owes one list of the recent window, after a burst settles and at most once per burstListIntervalMs. */
  function scheduleBurstList() {
    if (state.burstListPending) return;
    state.burstListPending = true;
    state.burstListNotBefore = Math.max(state.burstListNotBefore ?? 0, Date.now() + opts.burstSettleMs);
  }

  // ---- handlers: registered before the first await ----
  setHandler(statusQuery, (): AthleteStatus => {
    const until = Math.max(0, ...Object.values(state.rateLimitedUntil).map((t) => t ?? 0));
    return {
      athleteId,
      state: state.state,
      lastSyncAt: state.lastSyncAt,
      lastBackfillAt: state.lastBackfillAt,
      nextBackfillAt: state.nextBackfillAt,
      import: { done: state.import.done, pages: state.import.pages, imported: state.import.imported, before: state.import.before },
      pendingEvents: state.pendingEvents.length,
      pendingNotFoundRetries: Object.keys(state.notFound).length,
      deferredFetches: Object.keys(state.deferred).length,
      fetchTokens: refill(state.fetchBudget, budgetShape, Date.now()).tokens,
      rateLimitedUntil: until > Date.now() ? iso(until) : null,
      pausedUntil: state.pausedUntil !== null ? iso(state.pausedUntil) : null,
      counters: { ...state.counters },
      lastError: state.lastError,
    };
  });

  setHandler(stravaEventSignal, (signalled: StravaEventSignal) => {
    state.counters.eventsReceived += 1;
    // Unsigned input: an event from the future counts as now, and a value that is no time at all as now too.
    const event: StravaEventSignal = { ...signalled, eventTime: clampEventTime(signalled.eventTime, Date.now()) };
    if (event.ownerId !== athleteId) {
      log.warn('event for another athlete ignored', { athleteId, ownerId: event.ownerId });
      return;
    }
    const key = eventKey(event);
    if (state.recentEventKeys.includes(key)) {
      state.counters.duplicateEvents += 1;
      return;
    }
    pushBounded(state.recentEventKeys, key, opts.dedupeKeep);
    if (event.objectType === 'athlete') {
      if (event.deauthorized) state.deauthPending = true;
    } else if (state.pendingEvents.length >= opts.maxPendingEvents) {
      // Bounded history: drop the event and let a list find the change instead (the burst list: rate-limited,
      // so a flood of events cannot buy a list each).
      state.counters.droppedEvents += 1;
      scheduleBurstList();
    } else {
      state.pendingEvents.push(event);
    }
    wake = true;
  });

  setHandler(appFocusSignal, () => {
    state.counters.focusSignals += 1;
    state.focusPending = true;
    wake = true;
  });

  setHandler(reconnectedSignal, () => {
    if (state.auth === 'needs_reauth') {
      state.auth = 'ok';
      state.catchUpPending = true;
    }
    wake = true;
  });

  setHandler(disconnectSignal, () => {
    state.disconnectPending = true;
    wake = true;
  });

  setHandler(
    syncNowUpdate,
    async (): Promise<SyncResult> => {
      const waiter: SyncNowWaiter = { done: false };
      waiters.push(waiter);
      wake = true;
      await condition(() => waiter.done);
      if (waiter.failure) throw ApplicationFailure.create({ type: waiter.failure.type, message: waiter.failure.message, nonRetryable: true });
      return waiter.result!;
    },
    {
      // Synchronous: rejected updates never enter history.
      validator: () => {
        if (ended || state.state === 'revoked' || state.disconnectPending) {
          throw ApplicationFailure.create({ type: 'SyncNowRejected', message: 'the athlete disconnected: nothing to sync', nonRetryable: true });
        }
        if (state.auth === 'needs_reauth') {
          throw ApplicationFailure.create({
            type: 'SyncNowRejected',
            message: 'the athlete must reconnect to Strava (the stored authorization is no longer valid) before syncing',
            nonRetryable: true,
          });
        }
      },
    },
  );

  // ---- helpers ----
  const now = () => Date.now();
  const blocked = (p: Priority) => (state.rateLimitedUntil[p] ?? 0) > now();
  const backgroundHeld = () => blocked('background') || (state.backgroundHoldUntil ?? 0) > now();
  const waitersPending = () => waiters.some((w) => !w.done);
  const backfillDue = () => state.import.done && state.nextBackfillAt !== null && Date.parse(state.nextBackfillAt) <= now();

  function resolveWaiters(serving: SyncNowWaiter[], outcome: { result: SyncResult } | { failure: { type: string; message: string } }) {
    for (const w of serving) Object.assign(w, { done: true }, outcome);
    waiters = waiters.filter((w) => !w.done);
  }

  async function setState(next: SyncState): Promise<void> {
    if (next !== state.state) {
      state.state = next;
      upsertSearchAttributes([{ key: syncStateKey, value: next }]);
    }
    // athletes.state holds resting states only: `syncing` flickers too often to be worth a write.
    if (next !== 'syncing' && next !== 'revoked' && next !== state.persistedState) {
      state.persistedState = next;
      await db.recordAthleteState.executeWithOptions({ summary: `state ${next}` }, [{ athleteId, state: next }]);
    }
  }

  function markSynced(at: number) {
    if (state.lastSyncAt === null || Date.parse(state.lastSyncAt) < at) {
      state.lastSyncAt = iso(at);
      upsertSearchAttributes([{ key: lastSyncAtKey, value: new Date(at) }]);
    }
  }

  function restingState(): SyncState {
    if (state.auth === 'needs_reauth') return 'needs_reauth';
    if (state.pausedUntil !== null) return 'paused';
    const waitingForBudget =
      (blocked('background') && (!state.import.done || backfillDue())) ||
      (blocked('realtime') && (state.pendingEvents.length > 0 || Object.keys(state.notFound).length > 0)) ||
      (blocked('interactive') && state.catchUpPending);
    if (waitingForBudget) return 'rate_limited';
    return state.import.done ? 'idle' : 'importing';
  }

  /** Applies the consequences of a failed Strava activity. */
  function onFailure(failure: Failure, priority: Priority) {
    state.lastError = { type: failure.type, message: failure.message, at: iso(now()) };
    switch (failure.kind) {
      case 'rate_limited':
        state.counters.rateLimitWaits += 1;
        state.rateLimitedUntil[priority] = now() + Math.min(failure.retryAfterMs, opts.rateLimitMaxWaitMs);
        return;
      case 'needs_reauth':
        state.auth = 'needs_reauth';
        log.warn('athlete needs to reconnect; Strava calls stop until `reconnected`', { athleteId, type: failure.type });
        return;
      case 'app_forbidden': {
        const backoff = state.pausedBackoffMs === null ? opts.pausedRetryMs : Math.min(state.pausedBackoffMs * 2, opts.pausedMaxMs);
        state.pausedBackoffMs = backoff;
        state.pausedUntil = now() + backoff;
        log.warn('Strava refused the application (403); pausing', { athleteId, backoffMs: backoff });
        return;
      }
      case 'failed':
        log.warn('activity failed after retries', { athleteId, type: failure.type });
        return;
    }
  }

  function onSuccess() {
    state.pausedBackoffMs = null;
  }

  async function planNextBackfill() {
    const fleet = await db.fleetLoad.executeWithOptions({ summary: 'plan next backfill' }, [{ athleteId }]);
    const interval = withJitter(backfillIntervalMs(opts.backfillIntervalMs, fleet), opts.backfillJitter, Math.random());
    state.nextBackfillAt = iso(now() + interval);
  }

  /** Lists activities after `from - overlap` and reconciles the stored ones in that window. */
  async function syncWindow(
    priority: Priority,
    kind: 'backfill' | 'quick',
    from: number,
    reason: string,
    watch?: number[],
  ): Promise<Outcome<SyncWindowResult & { startedAt: number }>> {
    const startedAt = now();
    const after = Math.floor((from - opts.backfillOverlapMs) / 1000);
    await setState('syncing');
    const outcome = await attempt(() =>
      strava.syncWindow.executeWithOptions({ summary: `${reason}: list activities after ${iso(after * 1000)} (${priority})` }, [
        { athleteId, after, priority, kind, perPage: opts.importPageSize, ...(watch !== undefined ? { watch } : {}) },
      ]),
    );
    if (!outcome.ok) {
      onFailure(outcome, priority);
      return outcome;
    }
    onSuccess();
    state.counters.requests += outcome.value.requests;
    state.counters.repairs += outcome.value.repaired;
    markSynced(startedAt);
    return { ok: true, value: { ...outcome.value, startedAt } };
  }

  const quickSyncFrom = () => (state.lastSyncAt !== null ? Date.parse(state.lastSyncAt) : now());

  async function quickSync(priority: Priority, reason: string) {
    state.counters.quickSyncs += 1;
    return syncWindow(priority, 'quick', quickSyncFrom(), reason);
  }

  async function removeActivity(activityId: number, eventTime: number, why: string) {
    await db.removeActivity.executeWithOptions({ summary: `remove activity ${activityId} (${why})` }, [{ athleteId, activityId, eventTime }]);
    // A tombstone is never dated after the moment it is recorded: a later observation from Strava always wins.
    recordTombstone(state.tombstones, activityId, clampEventTime(eventTime, now()), opts.tombstonesKeep);
    delete state.notFound[String(activityId)];
    delete state.deferred[String(activityId)];
  }

  /** Takes a token of the event fetch budget (always granted to runs recorded before the budget existed). */
  function takeFetchToken(): boolean {
    if (!patched(EVENT_FETCH_BUDGET_PATCH)) return true;
    const { budget, taken } = take(state.fetchBudget, budgetShape, now());
    state.fetchBudget = budget;
    return taken;
  }

  /** Gives back a token whose call Strava never saw (the rate governor refused it). */
  function returnFetchToken() {
    if (state.fetchBudget !== null) state.fetchBudget = { ...state.fetchBudget, tokens: Math.min(budgetShape.capacity, state.fetchBudget.tokens + 1) };
  }

  /** Postpones an event fetch until a token is free; a full deferred set falls back to a list of the recent window. */
  function deferFetch(activityId: number, eventTime: number, confirmsDelete: boolean) {
    state.counters.fetchesDeferred += 1;
    if (!defer(state.deferred, activityId, { eventTime, confirmsDelete }, opts.deferredFetchesKeep)) state.counters.droppedEvents += 1;
    scheduleBurstList();
  }

  /**
   * Fetches an activity an event named (realtime priority) and applies Strava's answer. Returns false when the
   * fetch must wait (rate limit, re-authorization, paused app).
   */
  async function fetchForEvent(activityId: number, eventTime: number, purpose: FetchPurpose, events: number, label: string): Promise<boolean> {
    const key = String(activityId);
    delete state.deferred[key]; // this fetch answers whatever a deferred event asked about the activity
    const outcome = await attempt(() =>
      strava.fetchActivity.executeWithOptions({ summary: `fetch activity ${activityId} (${label} ${eventTime})` }, [
        { athleteId, activityId, priority: 'realtime', eventTime },
      ]),
    );
    if (!outcome.ok) {
      onFailure(outcome, 'realtime');
      if (outcome.kind === 'rate_limited') returnFetchToken();
      // A failure retries could not fix loses this event; the next backfill repairs the activity.
      return outcome.kind === 'failed';
    }
    onSuccess();
    state.counters.fetches += 1;
    state.counters.requests += outcome.value.requests;
    if (outcome.value.outcome === 'upserted') {
      delete state.tombstones[key];
      delete state.notFound[key];
      if (purpose === 'delete') {
        // Strava still shows it: the delete was stale or forged, and the activity stays.
        state.counters.staleDeletes += 1;
        log.warn('delete event ignored: Strava still returns the activity (stale or forged event)', { athleteId, activityId });
      }
    } else if (outcome.value.outcome === 'superseded') {
      state.counters.staleEvents += events;
    } else if (purpose === 'create' && opts.notFoundRetryDelaysMs.length > 0) {
      // Strava may still be processing a new activity: look again later.
      state.notFound[key] = { attempt: 1, dueAt: now() + opts.notFoundRetryDelaysMs[0]!, eventTime };
    } else {
      await removeActivity(activityId, eventTime, purpose === 'delete' ? 'delete confirmed by Strava' : 'not visible');
    }
    return true;
  }

  /** Returns false when the action must wait (rate limit, re-authorization, paused app). */
  async function applyAction(action: ActivityAction): Promise<boolean> {
    if (action.kind === 'stale') {
      state.counters.staleEvents += action.events.length;
      return true;
    }
    if (action.kind === 'delete' && !patched(CONFIRM_DELETES_PATCH)) {
      await removeActivity(action.activityId, action.eventTime, 'delete event');
      return true;
    }
    // An event is a hint: even a delete only makes the workflow ask Strava (a 404 confirms it).
    if (!takeFetchToken()) {
      deferFetch(action.activityId, action.eventTime, action.kind === 'delete');
      return true;
    }
    const purpose: FetchPurpose = action.kind === 'delete' ? 'delete' : action.afterCreate ? 'create' : 'update';
    return fetchForEvent(action.activityId, action.eventTime, purpose, action.events.length, action.kind === 'delete' ? 'confirm delete' : 'event');
  }

  async function processEvents() {
    const batch = state.pendingEvents.splice(0, state.pendingEvents.length);
    const actions = planActivityEvents(batch, state.tombstones);
    for (let i = 0; i < actions.length; i++) {
      const action = actions[i]!;
      if (!(await applyAction(action))) {
        // Keep this and the remaining events, in order, ahead of anything that arrived meanwhile.
        state.pendingEvents.unshift(...actions.slice(i).flatMap((a) => a.events));
        return;
      }
      state.counters.eventsHandled += action.events.length;
    }
  }

  async function processNotFoundRetries() {
    const due = Object.entries(state.notFound).filter(([, r]) => r.dueAt <= now());
    for (const [key, retry] of due) {
      const activityId = Number(key);
      if (!takeFetchToken()) {
        // Out of budget: look again when the next token arrives (the retry keeps its attempt number).
        state.notFound[key] = { ...retry, dueAt: Math.max(now() + 1, nextTokenAt(state.fetchBudget, budgetShape, now())) };
        continue;
      }
      const outcome = await attempt(() =>
        strava.fetchActivity.executeWithOptions({ summary: `fetch activity ${activityId} again (404 retry ${retry.attempt})` }, [
          { athleteId, activityId, priority: 'realtime', eventTime: retry.eventTime },
        ]),
      );
      if (state.notFound[key] !== retry) continue; // a newer event took over meanwhile
      if (!outcome.ok) {
        onFailure(outcome, 'realtime');
        if (outcome.kind === 'rate_limited') returnFetchToken();
        if (outcome.kind !== 'failed') return;
        delete state.notFound[key];
        continue;
      }
      onSuccess();
      state.counters.requests += outcome.value.requests;
      if (outcome.value.outcome !== 'not_found') {
        delete state.notFound[key];
        if (outcome.value.outcome === 'upserted') delete state.tombstones[key];
      } else if (retry.attempt < opts.notFoundRetryDelaysMs.length) {
        state.notFound[key] = { attempt: retry.attempt + 1, dueAt: now() + opts.notFoundRetryDelaysMs[retry.attempt]!, eventTime: retry.eventTime };
      } else {
        state.counters.notFoundGaveUp += 1;
        await removeActivity(activityId, retry.eventTime, 'still 404 after retries');
      }
    }
  }

  /**
   * The event fetch budget ran out: one list of the recent window (interactive priority) finds what a burst of
   * events was about, instead of one fetch each. What it does not find stays deferred for the refilling budget.
   */
  async function burstList() {
    state.burstListPending = false;
    state.burstListNotBefore = now() + opts.burstListIntervalMs;
    state.counters.burstLists += 1;
    const watch = Object.keys(state.deferred).map(Number);
    const outcome = await syncWindow('interactive', 'quick', quickSyncFrom(), 'event burst', watch);
    if (!outcome.ok) {
      if (outcome.kind !== 'failed') state.burstListPending = true;
      return;
    }
    for (const id of outcome.value.found ?? []) {
      const key = String(id);
      if (state.deferred[key]?.confirmsDelete) state.counters.staleDeletes += 1;
      delete state.deferred[key];
    }
  }

  /** Fetches deferred activities while the budget has tokens. */
  async function processDeferred() {
    for (const [key, entry] of Object.entries(state.deferred)) {
      if (state.deferred[key] !== entry) continue; // settled or replaced while an earlier fetch ran
      if (!takeFetchToken()) return;
      delete state.deferred[key];
      const purpose: FetchPurpose = entry.confirmsDelete ? 'delete' : 'update';
      if (!(await fetchForEvent(Number(key), entry.eventTime, purpose, 1, 'deferred event'))) {
        defer(state.deferred, Number(key), entry, opts.deferredFetchesKeep);
        return;
      }
    }
  }

  const tokenAvailable = () => refill(state.fetchBudget, budgetShape, now()).tokens >= 1;

  async function serveSyncNow() {
    const serving = waiters.filter((w) => !w.done);
    state.counters.syncNows += serving.length;
    if (blocked('realtime')) {
      const retryIn = Math.ceil(((state.rateLimitedUntil.realtime ?? now()) - now()) / 1000);
      resolveWaiters(serving, { failure: { type: FAILURE_TYPES.rateLimited, message: `Strava's rate limit is reached; try again in ${retryIn} s` } });
      return;
    }
    const startedAt = now();
    const outcome = await quickSync('realtime', 'sync now');
    if (outcome.ok) {
      const { added, updated, deleted, requests } = outcome.value;
      resolveWaiters(serving, { result: { added, updated, deleted, requests, durationMs: now() - startedAt } });
    } else {
      resolveWaiters(serving, { failure: { type: outcome.type, message: outcome.message } });
    }
  }

  async function importStep() {
    if (state.import.startedAt === null) state.import.startedAt = iso(now());
    await setState('importing');
    const { before } = state.import;
    const outcome = await attempt(() =>
      strava.importPage.executeWithOptions(
        { summary: `import page ${state.import.pages + 1}${before !== null ? ` (before ${iso(before * 1000)})` : ''}` },
        [{ athleteId, before, perPage: opts.importPageSize }],
      ),
    );
    if (!outcome.ok) {
      onFailure(outcome, 'background');
      if (outcome.kind === 'failed') state.backgroundHoldUntil = now() + opts.errorRetryMs;
      return;
    }
    onSuccess();
    const page = outcome.value;
    state.import.pages += 1;
    state.import.imported += page.added;
    state.counters.requests += page.requests;
    if (page.listed < opts.importPageSize || page.oldestStart === null) {
      await finishImport();
      return;
    }
    // Overlap one second so activities sharing the boundary second are not skipped (upserts are idempotent).
    let next = page.oldestStart + 1;
    if (before !== null && next >= before) next = before - 1;
    state.import.before = next;
  }

  async function finishImport() {
    const startedAt = Date.parse(state.import.startedAt ?? iso(now()));
    state.import.done = true;
    state.import.finishedAt = iso(now());
    // The import covers everything that started before it began; backfills continue from there.
    state.lastBackfillAt = iso(startedAt);
    markSynced(now());
    await db.recordSyncTime.executeWithOptions({ summary: 'import complete' }, [{ athleteId, at: startedAt, kind: 'backfill' }]);
    log.info('import complete', { athleteId, pages: state.import.pages, imported: state.import.imported });
    await planNextBackfill();
  }

  async function backfillStep() {
    const from = state.lastBackfillAt !== null ? Date.parse(state.lastBackfillAt) : quickSyncFrom();
    const outcome = await syncWindow('background', 'backfill', from, 'backfill');
    if (!outcome.ok) {
      if (outcome.kind === 'failed') state.backgroundHoldUntil = now() + opts.errorRetryMs;
      return;
    }
    state.counters.backfills += 1;
    state.lastBackfillAt = iso(outcome.value.startedAt);
    await planNextBackfill();
  }

  async function purgeAndEnd(reason: string) {
    const { activitiesDeleted } = await db.purgeAthlete.executeWithOptions({ summary: `purge athlete data (${reason})` }, [{ athleteId }]);
    log.info('athlete purged; workflow ends', { athleteId, reason, activitiesDeleted });
    ended = true;
    state.persistedState = 'revoked';
    await setState('revoked');
    resolveWaiters(waiters, { failure: { type: 'SyncNowRejected', message: 'the athlete disconnected' } });
    await condition(allHandlersFinished);
  }

  /** Returns true when the athlete was purged and the workflow must end. */
  async function handleDeauthorization(): Promise<boolean> {
    state.deauthPending = false;
    // needs_reauth already proves the tokens are dead; verifying would need a token we do not have.
    if (state.auth !== 'needs_reauth') {
      // The check is one realtime call an unsigned event asked for: it takes a token of the event budget (the
      // main loop only gets here with one available, so a forged stream of deauthorizations costs the bucket).
      if (!takeFetchToken()) {
        state.deauthPending = true;
        return false;
      }
      const outcome = await attempt(() =>
        strava.verifyAuthorization.executeWithOptions({ summary: 'verify deauthorization (GET /athlete)' }, [{ athleteId }]),
      );
      if (!outcome.ok && outcome.kind !== 'needs_reauth') {
        onFailure(outcome, 'realtime');
        if (outcome.kind === 'rate_limited') returnFetchToken();
        // Verify again once the wait is over; an unexpected failure leaves the event unconfirmed.
        if (outcome.kind !== 'failed') state.deauthPending = true;
        return false;
      }
      if (outcome.ok) {
        state.counters.requests += outcome.value.requests;
        if (outcome.value.authorized) {
          state.counters.staleDeauthorizations += 1;
          log.warn('deauthorization event ignored: Strava still accepts the athlete token (stale or forged event)', { athleteId });
          return false;
        }
      }
    }
    await purgeAndEnd('deauthorized at Strava');
    return true;
  }

  async function handleDisconnect(): Promise<boolean> {
    if (state.auth !== 'needs_reauth') {
      const outcome = await attempt(() =>
        strava.deauthorizeAthlete.executeWithOptions({ summary: 'deauthorize at Strava' }, [{ athleteId }]),
      );
      if (!outcome.ok && outcome.kind === 'rate_limited') {
        onFailure(outcome, 'realtime');
        return false;
      }
      if (outcome.ok) state.counters.requests += outcome.value.requests;
    }
    await purgeAndEnd('disconnected by the athlete');
    return true;
  }

  function shouldContinueAsNew(): boolean {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength >= opts.continueAsNewAfterEvents;
  }

  function nextWakeAt(): number | undefined {
    const times: number[] = [];
    if (state.auth === 'ok') {
      if (state.pausedUntil !== null) times.push(state.pausedUntil);
      if (state.import.done && state.nextBackfillAt !== null) times.push(Date.parse(state.nextBackfillAt));
      for (const retry of Object.values(state.notFound)) times.push(retry.dueAt);
      if (Object.keys(state.deferred).length > 0) times.push(nextTokenAt(state.fetchBudget, budgetShape, now()));
      if (state.burstListPending && state.burstListNotBefore !== null) times.push(state.burstListNotBefore);
      if (state.deauthPending) times.push(nextTokenAt(state.fetchBudget, budgetShape, now()));
      for (const until of Object.values(state.rateLimitedUntil)) if (until !== undefined && until > now()) times.push(until);
      if (state.backgroundHoldUntil !== null && state.backgroundHoldUntil > now()) times.push(state.backgroundHoldUntil);
    }
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  // ---- main loop ----
  upsertSearchAttributes([
    { key: stravaAthleteIdKey, value: String(athleteId) },
    { key: syncStateKey, value: state.state },
    ...(state.lastSyncAt !== null ? [{ key: lastSyncAtKey, value: new Date(state.lastSyncAt) }] : []),
  ]);

  for (;;) {
    wake = false;
    if (state.disconnectPending && !blocked('realtime')) {
      if (await handleDisconnect()) return;
      continue;
    }
    if (state.deauthPending && !blocked('realtime') && (state.auth === 'needs_reauth' || tokenAvailable())) {
      if (await handleDeauthorization()) return;
      continue;
    }
    if (shouldContinueAsNew() && !waitersPending()) {
      await condition(() => allHandlersFinished() || waitersPending());
      if (!waitersPending()) {
        state.counters.continuedAsNew += 1;
        await continueAsNew<typeof athleteSync>({ athleteId, options: opts, carried: state });
      }
    }
    if (state.auth === 'needs_reauth') {
      resolveWaiters(waiters, { failure: { type: FAILURE_TYPES.needsReauth, message: 'the athlete must reconnect to Strava before syncing' } });
      await setState('needs_reauth');
      await condition(() => wake);
      continue;
    }
    if (state.pausedUntil !== null) {
      if (state.pausedUntil > now()) {
        resolveWaiters(waiters, { failure: { type: FAILURE_TYPES.appForbidden, message: 'Strava currently refuses this application; syncing is paused' } });
        await setState('paused');
        await condition(() => wake, Math.max(1, state.pausedUntil - now()));
        continue;
      }
      state.pausedUntil = null;
    }
    if (state.pendingEvents.length > 0 && !blocked('realtime')) {
      await processEvents();
      continue;
    }
    if (Object.values(state.notFound).some((r) => r.dueAt <= now()) && !blocked('realtime')) {
      await processNotFoundRetries();
      continue;
    }
    if (state.burstListPending && (state.burstListNotBefore ?? 0) <= now() && !blocked('interactive')) {
      await burstList();
      continue;
    }
    if (Object.keys(state.deferred).length > 0 && tokenAvailable() && !blocked('realtime')) {
      await processDeferred();
      continue;
    }
    if (waitersPending()) {
      await serveSyncNow();
      continue;
    }
    if (state.focusPending) {
      state.focusPending = false;
      const stale = state.lastSyncAt === null || now() - Date.parse(state.lastSyncAt) > opts.focusStaleAfterMs;
      if (stale && !blocked('interactive')) {
        state.counters.focusSyncs += 1;
        await quickSync('interactive', 'app focus');
      }
      continue;
    }
    if (state.catchUpPending && !blocked('interactive')) {
      state.catchUpPending = false;
      const outcome = await quickSync('interactive', 'catch up');
      if (!outcome.ok && outcome.kind !== 'failed') state.catchUpPending = true;
      continue;
    }
    if (!state.import.done && !backgroundHeld()) {
      await importStep();
      continue;
    }
    if (state.import.done && state.nextBackfillAt === null) {
      await planNextBackfill();
      continue;
    }
    if (backfillDue() && !backgroundHeld()) {
      await backfillStep();
      continue;
    }
    await setState(restingState());
    const wakeAt = nextWakeAt();
    // The durable sleep: until a handler asks for work, or the next timer (backfill, 404 retry, rate window).
    await condition(() => wake, wakeAt === undefined ? undefined : Math.max(1, wakeAt - now()));
  }
}

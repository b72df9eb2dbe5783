/**
 * The state of one run of an athlete workflow and the primitives every step shares: resting state and search
 * attributes, sleeping, the event fetch tokens, and callStrava, the one way a step calls Strava.
 */
import { CancellationScope, condition, log, patched, setCurrentDetails, sleep, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Priority, SyncNowMode, SyncResult, SyncState } from '../domain/sync-types.js';
import type { AthleteSyncOptions } from '../domain/sync-options.js';
import { clampEventTime } from '../domain/event-time.js';
import { backgroundTaskQueue } from '../domain/task-queues.js';
import { db } from './strava-and-db-activities.js';
import { reviveState, resolveOptions, type AthleteSyncInput, type AthleteWorkflowState } from './athlete-state.js';
import { currentDetails } from './current-details.js';
import { failureOutcome, type FailureKind, type StravaFailure, type StravaOutcome } from './failure-outcome.js';
import { take, type BudgetShape } from './fetch-budget.js';
import { eventsApplicableMeanwhile, isBlocked, nextWakeAt, restingState, type Step, type StepInputs } from './next-step.js';
import { PATCHES } from './patches.js';
import { lastSyncAtKey, stravaAthleteIdKey, syncStateKey } from './search-attributes.js';

/** A sync-now update waiting for the main loop to serve it. */
export interface SyncNowWaiter {
  done: boolean;
  /** What the caller asked to list (full also answers the quick requests waiting with it). */
  mode: SyncNowMode;
  result?: SyncResult;
  failure?: { type: string; message: string };
}

/** A rest's durable timer and the scope that cancels it. */
interface RestTimer {
  wakeAt: number;
  fired: boolean;
  scope: CancellationScope;
}

/** A step either hands back to the loop or ends the workflow (the athlete was purged). */
export type StepResult = 'ended' | void;

export const iso = (ms: number) => new Date(ms).toISOString();

/**
 * One run of an athlete workflow: owns the carried state, the messages waiting for the loop (sync-now waiters,
 * the wake flag) and the primitives every step shares; the only place that calls Strava (callStrava).
 */
export class AthleteSyncRun {
  readonly athleteId: number;
  readonly opts: AthleteSyncOptions;
  readonly state: AthleteWorkflowState;
  readonly budget: BudgetShape;
  waiters: SyncNowWaiter[] = [];
  /** Set by every handler: ends the loop's current sleep. */
  wake = false;
  /** The athlete was purged: no further sync-now is accepted. */
  ended = false;
  /** What the Temporal UI's current details say the workflow is doing (re-rendered when the state changes). */
  private shown: { step: Step; wakeAt?: number } = { step: 'rest' };
  /** `reconnected` signals this run received (a purge that one overtakes starts the athlete afresh). */
  reconnects = 0;
  /** The timer the last rest started, kept while the next rest is for the same instant. */
  private restTimer: RestTimer | undefined;
  /** Applies the queued webhook events (event-steps.ts applyEvents; set by the workflow, which knows the steps). */
  eventApplier: ((run: AthleteSyncRun) => Promise<unknown>) | undefined;

  constructor(input: AthleteSyncInput) {
    this.athleteId = input.athleteId;
    this.opts = resolveOptions(input.options);
    this.state = reviveState(input.carried);
    if (!input.carried && input.fleet) {
      this.state.settingsVersion = input.fleet.version;
      this.state.fleetPaused = input.fleet.paused;
    }
    this.budget = { capacity: this.opts.eventFetchCapacity, refillMs: this.opts.eventFetchRefillMs };
    // Tombstones carried from earlier code may hold a forged future time: none may outrank "now".
    for (const [key, deletedAt] of Object.entries(this.state.tombstones)) this.state.tombstones[key] = clampEventTime(deletedAt, Date.now());
  }

  /** What nextStep needs besides the state, as of now. */
  stepInputs(): StepInputs {
    const info = workflowInfo();
    return {
      now: Date.now(),
      budget: this.budget,
      syncNowWaiting: this.syncNowWaiting(),
      continueAsNewDue: info.continueAsNewSuggested || info.historyLength >= this.opts.continueAsNewAfterEvents,
      // Asked only when it matters, so the patch marker lands where the behaviour changes.
      deferFocus: this.state.focusPending && this.isBlocked('interactive') && patched(PATCHES.deferFocus),
    };
  }

  /** The durable sleep: until a handler asks for work, or the next timer (backfill, 404 retry, rate window). */
  async sleepUntilNextTimer(): Promise<void> {
    await this.setState(restingState(this.state, Date.now()));
    const wakeAt = nextWakeAt(this.state, Date.now(), this.budget);
    this.showCurrentDetails('rest', wakeAt);
    if (!patched(PATCHES.keepRestTimer)) {
      await condition(() => this.wake, wakeAt === undefined ? undefined : Math.max(1, wakeAt - Date.now()));
      return;
    }
    const timer = this.restTimerFor(wakeAt);
    await condition(() => this.wake || timer?.fired === true);
  }

  /**
   * The timer of the rest: the one already running when it is for the same instant. A webhook event wakes the
   * workflow long before its next backfill; keeping that backfill's timer instead of cancelling it and starting an
   * identical one spares two history events and two timer tasks per event.
   */
  private restTimerFor(wakeAt: number | undefined): RestTimer | undefined {
    const current = this.restTimer;
    if (current && (current.fired || current.wakeAt !== wakeAt)) {
      if (!current.fired) current.scope.cancel();
      this.restTimer = undefined;
    }
    if (wakeAt !== undefined && !this.restTimer) {
      const timer: RestTimer = { wakeAt, fired: false, scope: new CancellationScope() };
      timer.scope.run(() => sleep(Math.max(1, wakeAt - Date.now()))).then(
        () => void (timer.fired = true),
        () => undefined, // cancelled: a rest for another instant replaced it
      );
      this.restTimer = timer;
    }
    return this.restTimer;
  }

  /** Tells the Temporal UI what the workflow does now and what comes next (metadata: no history event). */
  showCurrentDetails(step: Step, wakeAt?: number): void {
    this.shown = wakeAt === undefined ? { step } : { step, wakeAt };
    this.refreshCurrentDetails();
  }

  private refreshCurrentDetails(): void {
    setCurrentDetails(currentDetails({ state: this.state, ...this.shown }));
  }

  /**
   * Sleeps until a message arrives or timeoutMs passes (a timer only when there is a timeout). A rest timer still
   * running is cancelled first: a paused or blocked workflow keeps no timer of its rest.
   */
  async sleep(timeoutMs?: number): Promise<void> {
    this.restTimerFor(undefined);
    await condition(() => this.wake, timeoutMs);
  }

  syncNowWaiting(): boolean {
    return this.waiters.some((waiter) => !waiter.done);
  }

  isBlocked(priority: Priority): boolean {
    return isBlocked(this.state, priority, Date.now());
  }

  resolveWaiters(serving: SyncNowWaiter[], outcome: { result: SyncResult } | { failure: { type: string; message: string } }): void {
    for (const waiter of serving) Object.assign(waiter, { done: true }, outcome);
    this.waiters = this.waiters.filter((waiter) => !waiter.done);
  }

  publishSearchAttributes(): void {
    upsertSearchAttributes([
      { key: stravaAthleteIdKey, value: String(this.athleteId) },
      { key: syncStateKey, value: this.state.state },
      ...(this.state.lastSyncAt !== null ? [{ key: lastSyncAtKey, value: new Date(this.state.lastSyncAt) }] : []),
    ]);
  }

  /** Shows a state (search attribute) and persists it to athletes.state unless it is already there. */
  async setState(next: SyncState): Promise<void> {
    if (next !== this.state.state) {
      this.state.state = next;
      upsertSearchAttributes([{ key: syncStateKey, value: next }]);
    }
    // athletes.state holds resting states only: `syncing` flickers too often to be worth a write.
    if (next !== 'syncing' && next !== this.state.persistedState) {
      this.state.persistedState = next;
      await db.recordAthleteState.executeWithOptions({ summary: `state ${next}` }, [{ athleteId: this.athleteId, state: next }]);
    }
    this.refreshCurrentDetails();
  }

  /** Records a successful list (import, backfill, quick sync) and what it ran for. */
  markSynced(at: number, trigger: string): void {
    if (this.state.lastSyncAt === null || Date.parse(this.state.lastSyncAt) < at) {
      this.state.lastSyncAt = iso(at);
      this.state.lastSyncTrigger = trigger;
      upsertSearchAttributes([{ key: lastSyncAtKey, value: new Date(at) }]);
    }
  }

  /**
   * The count of stored activities: a list reports it (`stored`), a fetch or a removal moves it by one. Results
   * recorded before lists counted carry no `stored`: the count stays unknown until a list reports one.
   */
  countStored(stored: number | undefined): void {
    if (stored !== undefined) this.state.activitiesStored = stored;
  }

  moveStored(delta: number): void {
    if (this.state.activitiesStored !== null) this.state.activitiesStored = Math.max(0, this.state.activitiesStored + delta);
  }

  /**
   * Every Strava activity call: runs it, classifies a failure and applies it to the state (unless the caller
   * expects that kind as an answer: `ignore`), gives back an event fetch token the governor refused
   * (`refundsToken`), and on success clears the pause back-off and counts the requests.
   */
  async callStrava<T extends { requests: number }>(
    priority: Priority,
    call: () => Promise<T>,
    options: { ignore?: readonly FailureKind[]; refundsToken?: boolean } = {},
  ): Promise<StravaOutcome<T>> {
    let value: T;
    try {
      value = priority === 'background' ? await this.applyingEventsMeanwhile(call()) : await call();
    } catch (error) {
      const failure = failureOutcome(error);
      if (!options.ignore?.includes(failure.kind)) {
        this.applyFailure(failure, priority);
        if (failure.kind === 'rate_limited' && options.refundsToken) this.returnFetchToken();
      }
      return { ok: false, ...failure };
    }
    // Strava answered: the application is not refused (the next 403 starts from the first back-off again).
    this.state.pausedBackoffMs = null;
    this.state.counters.requests += value.requests;
    return { ok: true, value };
  }

  /**
   * Awaits a background call while applying the webhook events that arrive meanwhile: a background call can wait
   * in its task queue behind other athletes' pages, and an importing athlete's events must not wait for it
   * (bench/imports). The events' fetches are local activities; the call's own state is only touched after it.
   */
  private async applyingEventsMeanwhile<T>(pending: Promise<T>): Promise<T> {
    const apply = this.eventApplier;
    if (!apply || !patched(PATCHES.eventsDuringBackgroundCall)) return pending;
    let done = false;
    pending.then(
      () => void (done = true),
      () => void (done = true),
    );
    // A pass that leaves the queue as it was (a refusal, a re-authorization) waits for a new event or the call.
    let stuckAt: number | undefined;
    const ready = () => eventsApplicableMeanwhile(this.state, Date.now()) && this.state.pendingEvents.length !== stuckAt;
    for (;;) {
      await condition(() => done || ready());
      if (done) return pending;
      const before = this.state.pendingEvents.length;
      await apply(this);
      stuckAt = this.state.pendingEvents.length >= before ? this.state.pendingEvents.length : undefined;
    }
  }

  /** The consequences of a failed Strava call. */
  private applyFailure(failure: StravaFailure, priority: Priority): void {
    const now = Date.now();
    this.state.lastError = { type: failure.type, message: failure.message, at: iso(now) };
    switch (failure.kind) {
      case 'rate_limited':
        this.state.counters.rateLimitWaits += 1;
        this.state.rateLimitedUntil[priority] = now + Math.min(failure.retryAfterMs, this.opts.rateLimitMaxWaitMs);
        return;
      case 'needs_reauth':
        this.state.auth = 'needs_reauth';
        // A revoked grant is a deauthorization whose event may never come (dropped, or Strava gave up on it):
        // Strava's refusal confirms it, so the data goes now rather than staying until someone disconnects.
        if (failure.grantRevoked && patched(PATCHES.purgeRevokedGrant)) {
          this.state.deauthPending = true;
          log.warn('Strava refuses the athlete tokens: the grant is revoked; purging', { athleteId: this.athleteId, type: failure.type });
          return;
        }
        log.warn('athlete needs to reconnect; Strava calls stop until `reconnected`', { athleteId: this.athleteId, type: failure.type });
        return;
      case 'app_forbidden': {
        const { pausedBackoffMs } = this.state;
        const backoff = pausedBackoffMs === null ? this.opts.pausedRetryMs : Math.min(pausedBackoffMs * 2, this.opts.pausedMaxMs);
        this.state.pausedBackoffMs = backoff;
        this.state.pausedUntil = now + backoff;
        log.warn('Strava refused the application (403); pausing', { athleteId: this.athleteId, backoffMs: backoff });
        return;
      }
      case 'failed':
        log.warn('activity failed after retries', { athleteId: this.athleteId, type: failure.type });
        return;
    }
  }

  /**
   * Where a background Strava call (import page, backfill, re-sync page) is scheduled: the background task queue,
   * or, for runs recorded before it existed, the workflow's own (no option: the proxy's default).
   */
  backgroundCall(): { taskQueue?: string } {
    return patched(PATCHES.backgroundTaskQueue) ? { taskQueue: backgroundTaskQueue(workflowInfo().taskQueue) } : {};
  }

  /** Takes a token of the event fetch budget (always granted to runs recorded before the budget existed). */
  takeFetchToken(): boolean {
    if (!patched(PATCHES.eventFetchBudget)) return true;
    const { budget, taken } = take(this.state.fetchBudget, this.budget, Date.now());
    this.state.fetchBudget = budget;
    return taken;
  }

  /** Gives back a token whose call Strava never saw (the rate governor refused it). */
  returnFetchToken(): void {
    const current = this.state.fetchBudget;
    if (current !== null) this.state.fetchBudget = { ...current, tokens: Math.min(this.budget.capacity, current.tokens + 1) };
  }

  /** Owes one list of the recent window, after a burst settles and at most once per burstListIntervalMs. */
  scheduleBurstList(): void {
    if (this.state.burstListPending) return;
    this.state.burstListPending = true;
    this.state.burstListNotBefore = Math.max(this.state.burstListNotBefore ?? 0, Date.now() + this.opts.burstSettleMs);
  }
}

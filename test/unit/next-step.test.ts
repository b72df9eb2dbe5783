import { describe, expect, it } from 'vitest';
import { initialState, type AthleteWorkflowState } from '../../src/workflows/athlete-state.js';
import { STEPS, eventsApplicableMeanwhile, focusFindsStale, nextStep, nextWakeAt, pausedBy, restingState, type Step, type StepInputs } from '../../src/workflows/next-step.js';
import type { StravaEventSignal } from '../../src/domain/sync-types.js';

/** The athlete workflow's decisions, without a Temporal server: which step runs, the resting state, the wake-up time. */

const NOW = Date.parse('2026-06-01T12:00:00Z');
const budget = { capacity: 2, refillMs: 60_000 };
const inputs = (overrides: Partial<StepInputs> = {}): StepInputs => ({ now: NOW, budget, syncNowWaiting: false, continueAsNewDue: false, ...overrides });
const event: StravaEventSignal = { objectType: 'activity', objectId: 1, aspectType: 'create', ownerId: 7, eventTime: 100, updatedFields: [] };

function importedState(): AthleteWorkflowState {
  const state = initialState();
  state.import.done = true;
  state.nextBackfillAt = new Date(NOW + 3_600_000).toISOString();
  state.lastSyncAt = new Date(NOW - 60_000).toISOString();
  return state;
}

describe('nextStep', () => {
  it('picks one step per reason to work, in the order of STEPS, ending at rest', () => {
    // Every reason to work at once (pause expired); clearing the reason of each chosen step reveals the next.
    const state = initialState();
    Object.assign(state, {
      disconnectPending: true,
      deauthPending: true,
      pausedUntil: NOW - 1,
      pendingEvents: [event],
      notFound: { '5': { attempt: 1, dueAt: NOW, eventTime: 1 } },
      burstListPending: true,
      deferred: { '6': { eventTime: 1, confirmsDelete: false } },
      focusPending: true,
      catchUpPending: true,
      resyncs: [{ id: 'r', after: 1, before: 2, cursor: 1, pages: 0, listed: 0, added: 0, updated: 0, requestedAt: '', startedAt: null }],
    });
    let syncNowWaiting = true;
    let continueAsNewDue = true;
    const clear: Partial<Record<Step, () => void>> = {
      disconnect: () => (state.disconnectPending = false),
      verifyDeauthorization: () => (state.deauthPending = false),
      continueAsNew: () => (continueAsNewDue = false),
      endPause: () => (state.pausedUntil = null),
      applyEvents: () => (state.pendingEvents = []),
      retryNotFound: () => (state.notFound = {}),
      burstList: () => (state.burstListPending = false),
      fetchDeferred: () => (state.deferred = {}),
      serveSyncNow: () => (syncNowWaiting = false),
      focusSync: () => (state.focusPending = false),
      catchUp: () => (state.catchUpPending = false),
      importPage: () => (state.import.done = true),
      planBackfill: () => (state.nextBackfillAt = new Date(NOW).toISOString()),
      resyncPage: () => (state.resyncs = []),
      backfill: () => (state.nextBackfillAt = new Date(NOW + 1).toISOString()),
    };
    const chosen: Step[] = [];
    for (let i = 0; i < STEPS.length; i++) {
      const step = nextStep(state, inputs({ syncNowWaiting, continueAsNewDue }));
      chosen.push(step);
      if (step === 'rest') break;
      clear[step]!();
    }
    // The order of STEPS, except that continue-as-new waits until the sync-now is served (the waits: below).
    const expected: Step[] = STEPS.filter((s) => s !== 'awaitReconnect' && s !== 'waitOutPause' && s !== 'continueAsNew' && s !== 'holdPaused');
    expected.splice(expected.indexOf('serveSyncNow') + 1, 0, 'continueAsNew');
    expect(chosen).toEqual(expected);
  });

  it('continues as new only when no sync-now waits for its answer', () => {
    const state = importedState();
    expect(nextStep(state, inputs({ continueAsNewDue: true }))).toBe('continueAsNew');
    expect(nextStep(state, inputs({ continueAsNewDue: true, syncNowWaiting: true }))).toBe('serveSyncNow');
  });

  it('makes no Strava call in needs_reauth or while paused, except to leave (disconnect, deauthorization)', () => {
    const state = importedState();
    state.pendingEvents = [event];
    state.auth = 'needs_reauth';
    expect(nextStep(state, inputs({ syncNowWaiting: true }))).toBe('awaitReconnect');
    state.deauthPending = true; // the dead token proves it: no fetch token needed
    state.fetchBudget = { tokens: 0, refilledAt: NOW };
    expect(nextStep(state, inputs())).toBe('verifyDeauthorization');
    state.deauthPending = false;
    state.auth = 'ok';
    state.pausedUntil = NOW + 1;
    expect(nextStep(state, inputs())).toBe('waitOutPause');
    state.pausedUntil = NOW;
    expect(nextStep(state, inputs())).toBe('endPause');
  });

  it('makes no Strava call while an operator pauses the athlete or the fleet, except to leave', () => {
    for (const pause of [(s: AthleteWorkflowState) => (s.operatorPausedAt = new Date(NOW).toISOString()), (s: AthleteWorkflowState) => (s.fleetPaused = true)]) {
      const state = importedState();
      Object.assign(state, { pendingEvents: [event], focusPending: true, catchUpPending: true, burstListPending: true, nextBackfillAt: new Date(NOW).toISOString() });
      state.deferred = { '6': { eventTime: 1, confirmsDelete: false } };
      state.notFound = { '5': { attempt: 1, dueAt: NOW, eventTime: 1 } };
      pause(state);
      expect(nextStep(state, inputs({ syncNowWaiting: true }))).toBe('holdPaused');
      state.deauthPending = true; // checking it would call Strava: it waits for the resume
      expect(nextStep(state, inputs())).toBe('holdPaused');
      state.auth = 'needs_reauth'; // the dead token proves it without a call
      expect(nextStep(state, inputs())).toBe('verifyDeauthorization');
      state.deauthPending = false;
      expect(nextStep(state, inputs({ continueAsNewDue: true }))).toBe('continueAsNew');
      state.disconnectPending = true; // the athlete asked to leave: deauthorize and purge even while paused
      expect(nextStep(state, inputs())).toBe('disconnect');
    }
  });

  it('checks a deauthorization only with a token of the event fetch budget', () => {
    const state = importedState();
    state.deauthPending = true;
    state.fetchBudget = { tokens: 0, refilledAt: NOW };
    expect(nextStep(state, inputs())).toBe('rest');
    expect(nextStep(state, inputs({ now: NOW + budget.refillMs }))).toBe('verifyDeauthorization');
  });

  it('skips the work of a rate-limited priority and does the next thing', () => {
    const state = importedState();
    state.pendingEvents = [event];
    state.catchUpPending = true;
    state.rateLimitedUntil = { realtime: NOW + 1 };
    expect(nextStep(state, inputs())).toBe('catchUp');
    state.rateLimitedUntil = { realtime: NOW + 1, interactive: NOW + 1 };
    expect(nextStep(state, inputs())).toBe('rest');
    expect(nextStep(state, inputs({ now: NOW + 1 }))).toBe('applyEvents');
  });

  it('holds the import and the backfill after an unexpected failure or a background rate limit', () => {
    const state = initialState();
    expect(nextStep(state, inputs())).toBe('importPage');
    state.backgroundHoldUntil = NOW + 1;
    expect(nextStep(state, inputs())).toBe('rest');
    state.backgroundHoldUntil = null;
    state.rateLimitedUntil = { background: NOW + 1 };
    expect(nextStep(state, inputs())).toBe('rest');
    const imported = importedState();
    imported.nextBackfillAt = new Date(NOW).toISOString();
    expect(nextStep(imported, inputs())).toBe('backfill');
    imported.backgroundHoldUntil = NOW + 1;
    expect(nextStep(imported, inputs())).toBe('rest');
  });

  it('runs a burst list only once its settle time has passed', () => {
    const state = importedState();
    state.burstListPending = true;
    state.burstListNotBefore = NOW + 1;
    expect(nextStep(state, inputs())).toBe('rest');
    expect(nextStep(state, inputs({ now: NOW + 1 }))).toBe('burstList');
  });
});

describe('restingState', () => {
  it('shows why the workflow waits', () => {
    const state = initialState();
    expect(restingState(state, NOW)).toBe('importing');
    state.rateLimitedUntil = { background: NOW + 1 };
    expect(restingState(state, NOW)).toBe('rate_limited');
    expect(restingState(state, NOW + 1)).toBe('importing');
    const imported = importedState();
    expect(restingState(imported, NOW)).toBe('idle');
    imported.rateLimitedUntil = { background: NOW + 1 }; // no backfill due: nothing waits for the budget
    expect(restingState(imported, NOW)).toBe('idle');
    imported.catchUpPending = true;
    imported.rateLimitedUntil = { interactive: NOW + 1 };
    expect(restingState(imported, NOW)).toBe('rate_limited');
    imported.pausedUntil = NOW + 1;
    expect(restingState(imported, NOW)).toBe('paused');
    imported.auth = 'needs_reauth';
    expect(restingState(imported, NOW)).toBe('needs_reauth');
    imported.fleetPaused = true; // the operator's pause shows over what it holds
    expect(restingState(imported, NOW)).toBe('paused');
  });
});

describe('pausedBy', () => {
  it("names the cause an operator can lift first: this athlete's pause, the fleet's, then Strava's 403 back-off", () => {
    const state = importedState();
    expect(pausedBy(state)).toBeNull();
    state.pausedUntil = NOW + 1;
    expect(pausedBy(state)).toBe('strava');
    state.fleetPaused = true;
    expect(pausedBy(state)).toBe('fleet');
    state.operatorPausedAt = new Date(NOW).toISOString();
    expect(pausedBy(state)).toBe('operator');
    state.fleetPaused = false;
    state.pausedUntil = null;
    expect(pausedBy(state)).toBe('operator');
  });
});

describe('nextWakeAt', () => {
  it('wakes for the earliest timer, and only for a message in needs_reauth', () => {
    const state = importedState();
    expect(nextWakeAt(state, NOW, budget)).toBe(NOW + 3_600_000);
    state.notFound = { '5': { attempt: 1, dueAt: NOW + 10_000, eventTime: 1 } };
    state.rateLimitedUntil = { realtime: NOW + 5_000, background: NOW - 1 };
    expect(nextWakeAt(state, NOW, budget)).toBe(NOW + 5_000);
    state.deferred = { '6': { eventTime: 1, confirmsDelete: false } };
    state.fetchBudget = { tokens: 0, refilledAt: NOW - 58_000 };
    expect(nextWakeAt(state, NOW, budget)).toBe(NOW + 2_000);
    state.auth = 'needs_reauth';
    expect(nextWakeAt(state, NOW, budget)).toBeUndefined();
    const importing = initialState();
    expect(nextWakeAt(importing, NOW, budget)).toBeUndefined();
    importing.backgroundHoldUntil = NOW + 300_000;
    expect(nextWakeAt(importing, NOW, budget)).toBe(NOW + 300_000);
  });

  it('sets no timer while an operator pause holds: a paused workflow adds nothing to its history until a message', () => {
    const state = importedState();
    state.notFound = { '5': { attempt: 1, dueAt: NOW + 10_000, eventTime: 1 } };
    state.operatorPausedAt = new Date(NOW).toISOString();
    expect(nextWakeAt(state, NOW, budget)).toBeUndefined();
    state.operatorPausedAt = null;
    state.fleetPaused = true;
    expect(nextWakeAt(state, NOW, budget)).toBeUndefined();
  });
});

describe('focusFindsStale', () => {
  it('syncs on focus only when the last sync is older than focusStaleAfterMs', () => {
    const state = importedState(); // last sync a minute ago
    expect(focusFindsStale(state, NOW, { focusStaleAfterMs: 120_000 })).toBe(false);
    expect(focusFindsStale(state, NOW, { focusStaleAfterMs: 30_000 })).toBe(true);
    state.lastSyncAt = null;
    expect(focusFindsStale(state, NOW, { focusStaleAfterMs: 120_000 })).toBe(true);
  });
});

describe('eventsApplicableMeanwhile (events applied while a background call waits)', () => {
  it('holds for waiting events, and not while realtime is rate limited, paused, re-authorizing or leaving', () => {
    const state = importedState();
    expect(eventsApplicableMeanwhile(state, NOW)).toBe(false);
    state.pendingEvents = [event];
    expect(eventsApplicableMeanwhile(state, NOW)).toBe(true);
    const blockers: ((s: AthleteWorkflowState) => void)[] = [
      (s) => (s.rateLimitedUntil.realtime = NOW + 1),
      (s) => (s.operatorPausedAt = new Date(NOW).toISOString()),
      (s) => (s.fleetPaused = true),
      (s) => (s.auth = 'needs_reauth'),
      (s) => (s.pausedUntil = NOW + 1),
      (s) => (s.disconnectPending = true),
      (s) => (s.deauthPending = true),
    ];
    for (const block of blockers) {
      const blocked = structuredClone(state);
      block(blocked);
      expect(eventsApplicableMeanwhile(blocked, NOW)).toBe(false);
    }
    // A rate window that has passed no longer blocks.
    state.rateLimitedUntil.realtime = NOW - 1;
    expect(eventsApplicableMeanwhile(state, NOW)).toBe(true);
  });
});

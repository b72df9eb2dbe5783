import { condition, setHandler, workflowInfo } from '@temporalio/workflow';
import { appFocusSignal, statusQuery } from './messages.js';
import { initialState, type AthleteStatus, type AthleteSyncInput } from './athlete-state.js';

const DEFAULT_FOCUS_STALE_AFTER_MS = 3_600_000;

/** One long-running workflow per connected athlete (`athlete-<id>`). */
export async function athleteSync(input: AthleteSyncInput): Promise<void> {
  const state = input.carried ?? initialState();
  const staleAfterMs = input.options?.focusStaleAfterMs ?? DEFAULT_FOCUS_STALE_AFTER_MS;
  let focusPending = false;

  setHandler(statusQuery, (): AthleteStatus => ({
    athleteId: input.athleteId,
    state: state.state,
    lastSyncAt: state.lastSyncAt,
    counters: { focusSignals: state.focusSignals, focusSyncs: state.focusSyncs },
  }));
  setHandler(appFocusSignal, () => {
    state.focusSignals += 1;
    focusPending = true;
  });

  for (;;) {
    await condition(() => focusPending);
    focusPending = false;
    const now = Date.now();
    const stale = state.lastSyncAt === null || now - Date.parse(state.lastSyncAt) > staleAfterMs;
    if (stale) {
      state.focusSyncs += 1;
      state.lastSyncAt = new Date(now).toISOString();
    }
    if (workflowInfo().continueAsNewSuggested) break;
  }
}

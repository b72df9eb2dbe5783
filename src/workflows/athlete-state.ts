import type { SyncState } from '../domain/sync-types.js';

/** Everything the workflow carries across continue-as-new: plain JSON only (no Map, no Date). */
export interface AthleteWorkflowState {
  state: SyncState;
  lastSyncAt: string | null;
  focusSignals: number;
  focusSyncs: number;
}

export interface AthleteSyncInput {
  athleteId: number;
  /** Present when continuing as new. */
  carried?: AthleteWorkflowState;
  options?: {
    focusStaleAfterMs?: number;
  };
}

export interface AthleteStatus {
  athleteId: number;
  state: SyncState;
  lastSyncAt: string | null;
  counters: { focusSignals: number; focusSyncs: number };
}

export function initialState(): AthleteWorkflowState {
  return { state: 'idle', lastSyncAt: null, focusSignals: 0, focusSyncs: 0 };
}

import { describe, expect, it } from 'vitest';
import { initialState } from '../../src/workflows/athlete-state.js';
import { currentDetails } from '../../src/workflows/current-details.js';

/** The Temporal UI's current details of an athlete workflow: what it does, what comes next, ids and counts only. */

const NOW = Date.parse('2026-06-01T12:00:00Z');

describe('currentDetails', () => {
  it('shows the state, what the workflow does and when it wakes, and the numbers an operator looks at first', () => {
    const state = initialState();
    Object.assign(state, {
      state: 'idle',
      import: { ...state.import, done: true, pages: 3, imported: 450 },
      nextBackfillAt: '2026-06-01T15:00:00.000Z',
      lastSyncAt: '2026-06-01T11:00:00.000Z',
      lastSyncTrigger: 'backfill',
      activitiesStored: 451,
      lastError: { type: 'RateLimited', message: 'athlete title "Morning run" in a message', at: '2026-06-01T10:00:00.000Z' },
      settingsVersion: 4,
    });
    state.pendingEvents = [{ objectType: 'activity', objectId: 9, aspectType: 'create', ownerId: 1, eventTime: 1, updatedFields: [] }];
    const text = currentDetails({ state, step: 'rest', wakeAt: NOW + 3 * 3_600_000 });
    expect(text.split('\n')).toEqual([
      '**idle** · resting; wakes at 2026-06-01T15:00:00.000Z',
      '- next backfill: 2026-06-01T15:00:00.000Z',
      '- activities stored: 451',
      '- last sync: 2026-06-01T11:00:00.000Z (backfill)',
      '- pending events: 1',
      '- last error: RateLimited at 2026-06-01T10:00:00.000Z',
      '- settings version: 4',
    ]);
    // A failure's message may quote Strava's answer: only its type is shown.
    expect(text).not.toContain('Morning run');
  });

  it('says who paused the workflow and that only a message wakes it', () => {
    const state = initialState();
    Object.assign(state, { state: 'paused', operatorPausedAt: '2026-06-01T11:30:00.000Z', fleetPaused: true });
    const text = currentDetails({ state, step: 'holdPaused' });
    expect(text).toContain('**paused** · paused: no Strava call until resumed; wakes on the next message');
    expect(text).toContain('- paused by: operator since 2026-06-01T11:30:00.000Z');
    expect(text).toContain('- next backfill: after the import');
    expect(text).toContain('- activities stored: not counted yet');
    expect(currentDetails({ state: { ...state, operatorPausedAt: null }, step: 'holdPaused' })).toContain('- paused by: fleet (settings)');
    const refused = { ...state, operatorPausedAt: null, fleetPaused: false, pausedUntil: NOW + 60_000 };
    expect(currentDetails({ state: refused, step: 'waitOutPause' })).toContain(`wakes at ${new Date(NOW + 60_000).toISOString()}`);
    expect(currentDetails({ state: { ...state, import: { ...state.import, pages: 2, imported: 400 } }, step: 'importPage' })).toContain(
      'importing the history (page 3, 400 imported)',
    );
  });
});

import type { AthleteSyncInput } from './athlete-state.js';
import { AthleteSyncRun } from './athlete-sync-run.js';
import { applyEvents } from './event-steps.js';
import { registerHandlers } from './message-handlers.js';
import { nextStep } from './next-step.js';
import { runStep } from './step-runners.js';

/**
 * One long-running workflow per connected athlete (`athlete-<id>`): imports the history, applies webhook
 * events, backfills on a durable timer, answers focus and sync-now, and purges on deauthorization.
 *
 * Where things are: the handlers only record (message-handlers.ts); what to do next is a pure function of the
 * state (next-step.ts); the steps run in *-steps.ts through AthleteSyncRun (athlete-sync-run.ts), which owns the
 * state and makes every Strava call (callStrava).
 */
export async function athleteSync(input: AthleteSyncInput): Promise<void> {
  const run = new AthleteSyncRun(input);
  run.eventApplier = applyEvents;
  registerHandlers(run);
  run.publishSearchAttributes();

  for (;;) {
    run.wake = false; // a message from here on ends the next sleep
    const step = nextStep(run.state, run.stepInputs());
    if (step === 'rest') {
      await run.sleepUntilNextTimer();
      continue;
    }
    run.showCurrentDetails(step);
    if ((await runStep(run, step)) === 'ended') return;
  }
}

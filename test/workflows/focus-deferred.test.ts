import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { AthleteStatus } from '../../src/workflows/athlete-state.js';
import { athleteSync } from '../../src/workflows/athlete-sync.js';
import { appFocusSignal, statusQuery } from '../../src/workflows/messages.js';
import { uniqueTaskQueue, withWorker } from '../helpers/temporal.js';
import { createTimeSkippingEnv } from '../helpers/time-skipping.js';
import { FakeActivities } from './fake-activities.js';

/**
 * Issue 13: a focus request that arrives while the interactive share of the rate budget is exhausted is deferred
 * until the budget allows, not dropped (time-skipping server, fake activities whose Strava answers are scripted).
 */
const HOUR = 3_600_000;
let env: TestWorkflowEnvironment;

beforeEach(async () => {
  env = await createTimeSkippingEnv();
});
afterEach(async () => env?.teardown());

describe('app focus under an exhausted interactive budget', () => {
  it('a focus refused by the rate limit, and one arriving during the wait, sync once the window has passed', async () => {
    const fake = new FakeActivities();
    const taskQueue = uniqueTaskQueue('focus-deferred');
    const handle = await env.client.workflow.start(athleteSync, {
      workflowId: `athlete-70001-${taskQueue}`,
      taskQueue,
      args: [{ athleteId: 70_001, options: { backfillJitter: 0, focusStaleAfterMs: HOUR, backfillIntervalMs: 24 * HOUR } }],
    });
    const status = (predicate: (s: AthleteStatus) => boolean) => waitForStatus(() => handle.query(statusQuery), predicate);
    await withWorker({ connection: env.nativeConnection, taskQueue, activities: fake.activities() }, async () => {
      try {
        await status((s) => s.import.done && s.state === 'idle');
        await env.sleep(2 * HOUR); // the data is stale: a focus must sync

        // The focus sync meets the rate limit (60 s window for interactive work).
        fake.behaviours.push('RateLimited');
        await handle.signal(appFocusSignal);
        await status((s) => s.counters.rateLimitWaits === 1);
        // Another focus while the window lasts: no Strava call now...
        await handle.signal(appFocusSignal);
        await status((s) => s.counters.focusSignals === 2);
        expect(fake.callsOf('syncWindow')).toHaveLength(1);
        expect((await handle.query(statusQuery)).lastSyncAt).not.toBeNull(); // the import's

        // ...and one sync once the window has passed: the owed focus, both requests coalesced.
        const lastSyncBefore = (await handle.query(statusQuery)).lastSyncAt;
        await env.sleep(2 * 60_000);
        const after = await status((s) => s.state === 'idle' && s.lastSyncAt !== lastSyncBefore);
        const quick = fake.callsOf('syncWindow');
        expect(quick).toHaveLength(2);
        expect(quick.every((c) => c.input.kind === 'quick' && c.input.priority === 'interactive')).toBe(true);
        expect(after.counters.focusSyncs).toBe(2);
        // Nothing more owed: no further sync without a new focus.
        await env.sleep(HOUR);
        expect(fake.callsOf('syncWindow')).toHaveLength(2);
      } finally {
        await handle.terminate('test done').catch(() => {});
      }
    });
  });
});

async function waitForStatus(query: () => Promise<AthleteStatus>, predicate: (s: AthleteStatus) => boolean, timeoutMs = 15_000): Promise<AthleteStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: AthleteStatus | undefined;
  for (;;) {
    last = await env.client.withDeadline(Date.now() + 2_000, query).catch(() => last);
    if (last && predicate(last)) return last;
    if (Date.now() > deadline) throw new Error(`condition not reached; last status: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

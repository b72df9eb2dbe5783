import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { AthleteStatus } from '../../src/workflows/athlete-state.js';
import { athleteSync } from '../../src/workflows/athlete-sync.js';
import { resyncRangeSignal, statusQuery } from '../../src/workflows/messages.js';
import { uniqueTaskQueue, withWorker } from '../helpers/temporal.js';
import { createTimeSkippingEnv } from '../helpers/time-skipping.js';
import { FakeActivities } from './fake-activities.js';

/**
 * Issue 13: the range re-sync steps on the time-skipping server with fake activities: page by page, oldest first,
 * at background priority, progress in the status, a rate limit waited out where it struck, queued requests in
 * order, and the removal pass once the last page is in.
 */
const HOUR = 3_600_000;
let env: TestWorkflowEnvironment;

beforeEach(async () => {
  env = await createTimeSkippingEnv();
});
afterEach(async () => env?.teardown());

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

describe('range re-sync in the athlete workflow', () => {
  it('lists the window page by page, shows progress, waits out a rate limit, then removes what Strava dropped', async () => {
    const fake = new FakeActivities();
    const base = 1_600_000_000;
    // 450 activities a minute apart inside the window, a few outside it.
    const inside = Array.from({ length: 450 }, (_, i) => base + 60 * (i + 1));
    fake.history = [base - 3_600, ...inside, base + 60 * 1_000].sort((a, b) => b - a);
    const window = { after: base, before: base + 60 * 500 };
    const taskQueue = uniqueTaskQueue('resync');
    const handle = await env.client.workflow.start(athleteSync, {
      workflowId: `athlete-70002-${taskQueue}`,
      taskQueue,
      args: [{ athleteId: 70_002, options: { backfillJitter: 0, backfillIntervalMs: 24 * HOUR } }],
    });
    const status = (predicate: (s: AthleteStatus) => boolean) => waitForStatus(() => handle.query(statusQuery), predicate);
    await withWorker({ connection: env.nativeConnection, taskQueue, activities: fake.activities() }, async () => {
      try {
        await status((s) => s.import.done && s.state === 'idle');
        // The second page meets the background rate limit.
        fake.behaviours.push('ok', 'RateLimited');
        await handle.signal(resyncRangeSignal, { id: 'resync-a', ...window });
        await handle.signal(resyncRangeSignal, { id: 'resync-b', after: base + 60 * 100, before: base + 60 * 150 });
        await handle.signal(resyncRangeSignal, { id: 'resync-a', ...window }); // the same request again: one re-sync
        const waiting = await status((s) => s.state === 'rate_limited' && s.resync?.pages === 1);
        expect(waiting.resync).toMatchObject({ id: 'resync-a', pages: 1, listed: 200, startedAt: expect.any(String) });
        expect(waiting.queuedResyncs).toBe(1);
        expect(fake.callsOf('finishResync')).toHaveLength(0);

        await env.sleep(2 * 60_000);
        const done = await status((s) => s.lastResync?.id === 'resync-b' && s.resync === null);
        const pages = fake.callsOf('resyncPage');
        const first = pages.filter((c) => c.input.resyncId === 'resync-a');
        // 200 + 200 + the rest (each page starting a second before the newest of the previous: the overlap).
        expect(first.map((c) => c.input.after)).toEqual([window.after, inside[199]! - 1, inside[199]! - 1, inside[398]! - 1]);
        expect(first.every((c) => c.input.before === window.before && c.input.perPage === 200)).toBe(true);
        expect(fake.callsOf('finishResync').map((c) => c.input)).toEqual([
          { athleteId: 70_002, resyncId: 'resync-a', ...window },
          { athleteId: 70_002, resyncId: 'resync-b', after: base + 60 * 100, before: base + 60 * 150 },
        ]);
        expect(done.counters.resyncs).toBe(2);
        expect(done.state).toBe('idle');
      } finally {
        await handle.terminate('test done').catch(() => {});
      }
    });
  });
});

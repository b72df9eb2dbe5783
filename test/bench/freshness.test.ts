import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ChangeWatcher, runStep } from '../../bench/freshness/measure.js';
import { startStack, waitForImports, type Stack } from '../../bench/lib/service-stack.js';

/**
 * A smoke-sized run of bench/freshness (the full run: `npx tsx bench/freshness/run.ts --write`): the real
 * processes, OAuth connects, one change stream per athlete. It asserts what the benchmark's numbers rest on
 * (every activity created shows on its athlete's stream, is confirmed by the activities API, and has its
 * webhook's send time), never a latency.
 */
describe('freshness benchmark (smoke size)', () => {
  let dir: string;
  let stack: Stack;
  let watcher: ChangeWatcher;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'freshness-smoke-'));
    stack = await startStack({
      dir,
      databaseServerUrl: inject('databaseServerUrl'),
      workflowBundlePath: inject('workflowBundlePath'),
      temporalStore: 'memory',
      athletes: 12,
      activitiesPerAthlete: 2,
      env: { EVENT_FETCH_CAPACITY: '1000', EVENT_FETCH_REFILL: '1s' },
    });
    watcher = new ChangeWatcher(stack.apiUrl);
  });

  afterAll(async () => {
    watcher?.close();
    await stack?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('every activity created reaches its athlete stream and the activities API; nothing is missing', async () => {
    const connectMs = await stack.connect(stack.athleteIds, 4);
    expect(connectMs).toBeGreaterThan(0);
    await waitForImports(stack.sql, stack.athleteIds.length * 2, 30_000);
    const result = await runStep(stack, watcher, { label: 'smoke', athleteIds: stack.athleteIds, rate: 10, seconds: 3, graceMs: 20_000 });
    expect(watcher.size).toBe(stack.athleteIds.length);
    expect(result.created).toBe(30);
    expect(result.missing).toBe(0);
    expect(result.seen).toBe(30);
    expect(result.confirmed).toBe(30);
    // Every sample has its send time and its stages: the latency covers every activity.
    expect(result.latency).not.toBeNull();
    expect(result.latency!.max).toBeGreaterThanOrEqual(result.latency!.p50);
    expect(Object.values(result.stages).every((s) => s !== null)).toBe(true);
    expect(Object.keys(result.cpu)).toEqual(expect.arrayContaining(['api', 'worker', 'temporal', 'postgres']));
  });
});

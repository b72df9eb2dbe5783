import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectBounded, runningWorkflows } from '../../bench/fleet/measure.js';
import { ChangeWatcher, runStep } from '../../bench/freshness/measure.js';
import { startStack, type Stack } from '../../bench/lib/service-stack.js';

/**
 * A smoke-sized run of bench/fleet (the full run: `npx tsx bench/fleet/run.ts --write`): athletes from the
 * emulator's bulk creation connect through the API's OAuth flow within a time bound, every one gets a running
 * workflow, and events on the active few all arrive. Asserts correctness only, never a rate or a size.
 */
describe('fleet benchmark (smoke size)', () => {
  let dir: string;
  let stack: Stack;
  let connection: Connection;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleet-smoke-'));
    stack = await startStack({
      dir,
      databaseServerUrl: inject('databaseServerUrl'),
      workflowBundlePath: inject('workflowBundlePath'),
      temporalStore: 'memory',
      athletes: 40,
      activitiesPerAthlete: 0,
    });
    connection = await Connection.connect({ address: stack.env.TEMPORAL_ADDRESS! });
  });

  afterAll(async () => {
    await connection?.close();
    await stack?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('every athlete connected through OAuth has a running workflow, and events on the active ones all arrive', async () => {
    const onboard = await connectBounded(stack, stack.athleteIds, { seconds: 40, startCount: 0, concurrency: 8 });
    expect(onboard.failures).toEqual([]);
    expect(onboard.connected).toBe(40);
    const client = new Client({ connection });
    let running = 0;
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 500))) {
      running = await runningWorkflows(client);
      if (running >= 40) break;
    }
    expect(running).toBe(40);
    const watcher = new ChangeWatcher(stack.apiUrl);
    try {
      const active = stack.athleteIds.filter((_, i) => i % 10 === 0);
      const events = await runStep(stack, watcher, { label: 'smoke', athleteIds: active, rate: 5, seconds: 2, graceMs: 20_000 });
      expect(events.created).toBe(10);
      expect(events.missing).toBe(0);
    } finally {
      watcher.close();
    }
  });
});

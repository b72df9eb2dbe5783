import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { athleteSync } from '../../src/workflows/athlete-sync.js';
import { appFocusSignal, athleteWorkflowId, statusQuery } from '../../src/workflows/messages.js';
import { connectDevServer, uniqueTaskQueue, withWorker, type DevServerHandles } from '../helpers/temporal.js';
import { createTimeSkippingEnv } from '../helpers/time-skipping.js';

async function focusTwice(client: Client, connection: NativeConnection, athleteId: number) {
  const taskQueue = uniqueTaskQueue('skeleton');
  return withWorker({ connection, taskQueue }, async () => {
    const handle = await client.workflow.start(athleteSync, {
      workflowId: `${athleteWorkflowId(athleteId)}-${taskQueue}`,
      taskQueue,
      args: [{ athleteId }],
    });
    const before = await handle.query(statusQuery);
    await handle.signal(appFocusSignal);
    await handle.signal(appFocusSignal);
    let after = await handle.query(statusQuery);
    for (let i = 0; i < 50 && after.counters.focusSignals < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await handle.query(statusQuery);
    }
    await handle.terminate('test done');
    return { before, after };
  });
}

describe('athleteSync skeleton on the dev server', () => {
  let dev: DevServerHandles;
  beforeAll(async () => {
    dev = await connectDevServer();
  });
  afterAll(async () => dev?.close());

  it('answers the status query and counts appFocus signals', async () => {
    const { before, after } = await focusTwice(dev.client, dev.nativeConnection, 101);
    expect(before).toMatchObject({ athleteId: 101, lastSyncAt: null, counters: { focusSignals: 0 } });
    expect(after.counters.focusSignals).toBe(2);
    expect(after.lastSyncAt).not.toBeNull();
  });
});

describe('athleteSync skeleton on the time-skipping server', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await createTimeSkippingEnv();
  });
  afterAll(async () => env?.teardown());

  it('answers the status query and counts appFocus signals', async () => {
    const { before, after } = await focusTwice(env.client, env.nativeConnection, 202);
    expect(before.athleteId).toBe(202);
    expect(after.counters.focusSignals).toBe(2);
  });
});

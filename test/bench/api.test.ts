import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDelivery, createStack, drive, EventSource, spawnServer, stopServer, waitForRelay, type Server, type Stack } from '../../bench/api/harness.js';
import { SERVER_URL } from '../helpers/database.js';

/**
 * A smoke-sized run of bench/api (the full run: `npx tsx bench/api/webhooks.ts`), so the harness cannot rot and its
 * correctness check holds: every event the API acknowledged reaches the inbox as forwarded and its athlete
 * workflow's history as a signal. No timing is asserted.
 */
describe('webhook ingest benchmark (smoke size)', () => {
  let stack: Stack;
  const servers: Server[] = [];
  beforeAll(async () => {
    stack = await createStack({ adminUrl: SERVER_URL, athletes: 5 });
  }, 60_000);
  afterAll(async () => {
    for (const server of servers) await stopServer(server);
    await stack?.close();
  });

  it('every acknowledged event is forwarded to its workflow; the baseline records its events', async () => {
    const api = await spawnServer('api', stack.env);
    servers.push(api);
    const insert = await spawnServer('insert', stack.env);
    servers.push(insert);
    const events = new EventSource(stack.athletes);
    const step = await drive({ target: 'webhook', server: api, rate: 100, seconds: 3, events, sql: stack.sql });
    expect(step.requests).toBeGreaterThan(100);
    expect(events.acked.size).toBe(step.requests - step.non2xx - step.errors);

    const baselineEvents = new EventSource(stack.athletes, 8_000_000_000);
    const baseline = await drive({ target: 'insert', server: insert, rate: 100, seconds: 1, events: baselineEvents });
    // Requests still in flight when a step ends may be stored without their answer being counted: a superset.
    const stored = new Set((await stack.sql<{ objectId: number }[]>`select object_id as "objectId" from bench_baseline_events`).map((row) => row.objectId));
    expect(baselineEvents.acked.size).toBeGreaterThan(50);
    expect([...baselineEvents.acked].filter((id) => !stored.has(id))).toEqual([]);
    expect(baseline.cpuPerEventUs).toBeGreaterThan(0);

    const drained = await waitForRelay(stack.sql, 30_000);
    expect(drained.counts.pending).toBe(0);
    const delivery = await checkDelivery(stack, events);
    expect(delivery.acked).toBe(events.acked.size);
    expect(delivery.notForwarded).toEqual([]);
    expect(delivery.notSignalled).toEqual([]);
    expect(delivery.signals).toBeGreaterThanOrEqual(delivery.acked);
  }, 60_000);
});

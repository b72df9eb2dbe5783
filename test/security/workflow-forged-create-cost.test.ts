import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SYNC_OPTIONS } from '../../src/workflows/athlete-state.js';
import { useTestDatabase } from '../helpers/database.js';
import { waitForStatus } from '../integration/workflow-harness.js';
import { activityEvent, nowSeconds, signalEvent, startAttackStack, type AttackStack } from './workflow-attack-harness.js';

/**
 * Issue 10, finding 5 (its cost half): each forged `create` cost up to 5 Strava calls at realtime priority
 * (a fetch and four 404 re-fetches), so a few requests a second drained the application's whole rate budget.
 */

const db = useTestDatabase();
let stack: AttackStack;

beforeAll(async () => {
  stack = await startAttackStack(db, 1005);
});
afterAll(async () => stack?.close());

const FETCH = 'GET /api/v3/activities/{id}';
const LIST = 'GET /api/v3/athlete/activities';

describe('security: forged creates cost at most the per-athlete event budget', () => {
  it('50 forged creates for made-up ids cost the bucket (10 fetches) and one list, 404 re-fetches included', async () => {
    const capacity = DEFAULT_SYNC_OPTIONS.eventFetchCapacity;
    // The default bucket; the 404 re-fetches fall due at once and the burst list after 2 s, so the test sees
    // everything the burst may cost without waiting out the production delays.
    const { athleteId, handle } = await stack.victim(3, { notFoundRetryDelaysMs: [500, 500, 500, 500], burstSettleMs: 2_000 });
    const [fetchesBefore, listsBefore] = [await stack.requests(FETCH), await stack.requests(LIST)];

    for (let i = 0; i < 50; i++) await signalEvent(handle, activityEvent(athleteId, 880_000_000 + i, 'create', nowSeconds()));
    // Positive control: the burst list ran, after the 404 re-fetches had fallen due.
    const status = await waitForStatus(handle, (s) => s.counters.eventsHandled === 50 && s.counters.burstLists === 1 && s.state === 'idle', 30_000);

    const fetches = (await stack.requests(FETCH)) - fetchesBefore;
    const lists = (await stack.requests(LIST)) - listsBefore;
    expect(fetches).toBe(capacity);
    expect(lists).toBe(1);
    expect(status.fetchTokens).toBe(0);
    expect(status.pendingNotFoundRetries).toBe(capacity); // waiting for tokens, not sent
    expect(status.deferredFetches).toBe(50 - capacity);
    expect((await stack.stored(athleteId)).length).toBe(3);
  });
});

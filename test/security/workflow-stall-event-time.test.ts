import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities/index.js';
import { statusQuery } from '../../src/workflows/messages.js';
import { useTestDatabase } from '../helpers/database.js';
import { activityEvent, eventually, nowSeconds, signalEvent, startAttackStack, type AttackStack } from './workflow-attack-harness.js';

/**
 * Issue 10, finding 2: a delete with event_time = 2^53-1 made `new Date(...)` invalid, the tombstone write threw,
 * the database activity retried forever and the athlete's workflow never processed anything again.
 */

const db = useTestDatabase();
let stack: AttackStack;

beforeAll(async () => {
  stack = await startAttackStack(db, 1002);
});
afterAll(async () => stack?.close());

describe('security: an event_time beyond any date cannot stall an athlete', () => {
  it('a forged delete dated 2^53-1 removes nothing, and a genuine event signalled after it is applied', async () => {
    const { athleteId, handle } = await stack.victim(5);
    const [target] = await stack.truth(athleteId);

    await signalEvent(handle, activityEvent(athleteId, target!.id, 'delete', Number.MAX_SAFE_INTEGER));
    // A genuine upload afterwards, with its event as Strava would send it.
    const upload = await stack.emulator.control.createActivity(athleteId, { name: 'After the attack' });
    await signalEvent(handle, activityEvent(athleteId, upload.id, 'create', nowSeconds()));

    await eventually(async () => (await stack.stored(athleteId)).some((r) => r.id === upload.id), 'the genuine create is applied');
    expect((await stack.stored(athleteId)).some((r) => r.id === target!.id)).toBe(true);
    const status = await handle.query(statusQuery);
    expect(status.counters.staleDeletes).toBe(1);
    expect(status.pendingEvents).toBe(0);
  });

  it('the remove activity itself never fails on such a time: it clamps it to now', async () => {
    const { athleteId } = await stack.victim(1);
    const activities = createActivities({ sql: db.sql, strava: stack.harness.services.athleteStrava });
    await expect(activities.removeActivity({ athleteId, activityId: 987_654_321, eventTime: Number.MAX_SAFE_INTEGER, trigger: 'webhook' })).resolves.toEqual({ deleted: false });
    const [tombstone] = await db.sql<{ future: boolean }[]>`
      select deleted_at > now() as future from activity_tombstones where activity_id = 987654321`;
    expect(tombstone).toEqual({ future: false });
  });
});

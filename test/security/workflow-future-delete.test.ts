import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { tombstoneOf } from '../../src/db/repositories/activities.js';
import { statusQuery, syncNowUpdate } from '../../src/workflows/messages.js';
import { createTestDatabase, useTestDatabase } from '../helpers/database.js';
import { activityEvent, eventually, nowSeconds, signalEvent, startAttackStack, type AttackStack } from './workflow-attack-harness.js';

/**
 * Issue 10, finding 3: a forged delete dated 2126 removed a real activity on the event's word alone, and its
 * tombstone made every later genuine update look stale and every sync skip the activity.
 */

const db = useTestDatabase();
let stack: AttackStack;

beforeAll(async () => {
  stack = await startAttackStack(db, 1003);
});
afterAll(async () => stack?.close());

const YEAR_2126 = Math.floor(Date.parse('2126-01-01T00:00:00Z') / 1000);

describe('security: a future-dated delete neither removes nor hides an activity', () => {
  it('a forged delete dated 2126 leaves the activity; a later genuine update and a sync still apply', async () => {
    const { athleteId, handle } = await stack.victim(5);
    const [target] = await stack.truth(athleteId);

    await signalEvent(handle, activityEvent(athleteId, target!.id, 'delete', YEAR_2126));
    await eventually(async () => (await handle.query(statusQuery)).counters.eventsHandled >= 1, 'the forged delete is handled');
    expect((await stack.stored(athleteId)).some((r) => r.id === target!.id)).toBe(true);
    expect((await handle.query(statusQuery)).counters.staleDeletes).toBe(1);

    // The athlete renames it at Strava: the genuine update applies (nothing makes it look stale).
    await stack.emulator.control.updateActivity(target!.id, { name: 'Renamed after the attack' });
    await signalEvent(handle, activityEvent(athleteId, target!.id, 'update', nowSeconds()));
    await eventually(
      async () => (await stack.stored(athleteId)).find((r) => r.id === target!.id)?.name === 'Renamed after the attack',
      'the genuine update is applied',
    );
    // And a sync keeps it.
    await handle.executeUpdate(syncNowUpdate);
    expect((await stack.stored(athleteId)).map((r) => r.id)).toEqual((await stack.truth(athleteId)).map((r) => r.id));
  });

  it('migration 008 brings a tombstone already stored in the future back to its recording time', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'migrations-'));
    const scratch = await createTestDatabase({ migrated: false });
    try {
      const all = (await readdir(join(import.meta.dirname, '../../src/db/migrations'))).filter((f) => f.endsWith('.sql')).sort();
      for (const file of all.filter((f) => f < '008')) await cp(join(import.meta.dirname, '../../src/db/migrations', file), join(dir, file));
      await migrate(scratch.sql, dir);
      // Plain SQL of the schema as of 007: the repositories write columns later migrations add.
      await scratch.sql`insert into athletes (id, scopes) values (42, '{read,activity:read}')`;
      await scratch.sql`
        insert into activity_tombstones (activity_id, athlete_id, deleted_at, recorded_at)
        values (4242, 42, '2126-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`;
      expect((await tombstoneOf(scratch.sql, 42, 4242))!.toISOString()).toBe('2026-01-01T00:00:00.000Z'); // read side
      await migrate(scratch.sql);
      const [row] = await scratch.sql<{ deletedAt: Date }[]>`select deleted_at as "deletedAt" from activity_tombstones where activity_id = 4242`;
      expect(row!.deletedAt.toISOString()).toBe('2026-01-01T00:00:00.000Z');
      await expect(scratch.sql`update activity_tombstones set deleted_at = '2126-01-01T00:00:00Z'`).rejects.toThrow(/not_after_recording/);
    } finally {
      await scratch.drop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

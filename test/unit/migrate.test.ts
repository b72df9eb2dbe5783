import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSql } from '../../src/db/connection.js';
import { migrate } from '../../src/db/migrate.js';
import { createTestDatabase } from '../helpers/database.js';

describe('migrations', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase({ migrated: false });
  });
  afterAll(async () => db?.drop());

  it('apply to an empty database, then a second run is a no-op', async () => {
    const first = await migrate(db.sql);
    expect(first.applied[0]).toBe('001_initial.sql');
    expect(first.alreadyApplied).toBe(0);
    const tables = await db.sql<{ table_name: string }[]>`
      select table_name from information_schema.tables where table_schema = 'public' order by table_name`;
    expect(tables.map((t) => t.table_name)).toEqual(
      expect.arrayContaining(['activities', 'athletes', 'schema_migrations', 'tokens', 'webhook_events']),
    );
    const second = await migrate(db.sql);
    expect(second.applied).toEqual([]);
    expect(second.alreadyApplied).toBe(first.applied.length);
  });

  it('two concurrent runs on a fresh database neither fail nor double-apply', async () => {
    const fresh = await createTestDatabase({ migrated: false });
    const other = createSql(fresh.url, { max: 1 });
    try {
      const results = await Promise.all([migrate(fresh.sql), migrate(other)]);
      const applied = results.flatMap((r) => r.applied);
      const [row] = await fresh.sql<{ count: number }[]>`select count(*)::int as count from schema_migrations`;
      const count = row?.count;
      expect(new Set(applied).size).toBe(applied.length);
      expect(applied.length).toBe(count);
      expect(results.some((r) => r.applied.length === 0)).toBe(true);
    } finally {
      await other.end();
      await fresh.drop();
    }
  });

  it('enforces the webhook inbox identity and indexes activities by athlete and start date', async () => {
    const event = { object_type: 'activity', object_id: 1, aspect_type: 'create', owner_id: 9, subscription_id: 1, event_time: 100 };
    await db.sql`insert into webhook_events ${db.sql(event)}`;
    await expect(db.sql`insert into webhook_events ${db.sql(event)}`).rejects.toMatchObject({ code: '23505' });
    const [index] = await db.sql`select indexdef from pg_indexes where indexname = 'activities_athlete_start'`;
    expect(index?.indexdef).toContain('athlete_id, start_date DESC');
  });
});

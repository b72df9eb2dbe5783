import type { Db, Sql } from '../connection.js';

/** The settings table (migration 010) as stored: values are JSON, checked by the caller (src/api/settings). */
export interface StoredSettings {
  /** Setting name -> stored value; a setting never changed, or set back to its default, is absent. */
  values: Record<string, unknown>;
  /** The highest revision (0: nothing was ever changed): the version running workflows compare. */
  version: number;
  /** When a setting last changed (null: never). */
  updatedAt: Date | null;
}

export async function readSettings(sql: Db): Promise<StoredSettings> {
  const rows = await sql<{ name: string; value: unknown; revision: number; updatedAt: Date }[]>`
    select name, value, revision, updated_at as "updatedAt" from settings`;
  const values: Record<string, unknown> = {};
  let version = 0;
  let updatedAt: Date | null = null;
  for (const row of rows) {
    if (row.value !== null) values[row.name] = row.value;
    version = Math.max(version, row.revision);
    if (updatedAt === null || row.updatedAt > updatedAt) updatedAt = row.updatedAt;
  }
  return { values, version, updatedAt };
}

/**
 * Changes settings in one transaction under a table lock, so two concurrent changes are applied one after the
 * other and each sees what the other wrote: `plan` gets the stored settings and names the values to write (null:
 * back to the environment's default). Each written setting takes a new revision. Returns before and after.
 */
export async function changeSettings(
  sql: Sql,
  plan: (before: StoredSettings) => Record<string, unknown>,
): Promise<{ before: StoredSettings; after: StoredSettings }> {
  return sql.begin(async (tx) => {
    // Readers (GET, the settings pass) go on; a second writer waits for this one.
    await tx`lock table settings in share row exclusive mode`;
    const before = await readSettings(tx);
    const changes = Object.entries(plan(before));
    for (const [name, value] of changes) {
      await tx`
        insert into settings (name, value) values (${name}, ${value === null ? null : tx.json(value as never)})
        on conflict (name) do update set value = excluded.value, revision = excluded.revision, updated_at = now()`;
    }
    return { before, after: changes.length > 0 ? await readSettings(tx) : before };
  });
}

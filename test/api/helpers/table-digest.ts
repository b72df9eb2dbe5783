import type { Sql } from '../../../src/db/connection.js';

/**
 * One md5 per application table over every row's text form (ordered), to tell "no stored row changed" after
 * a request. Sequences are left out: a refused insert may still have drawn an id, which stores nothing.
 */
export async function digestTables(sql: Sql): Promise<Record<string, string>> {
  const tables = await sql<{ name: string }[]>`
    select table_name as name from information_schema.tables
    where table_schema = 'public' and table_type = 'BASE TABLE'
    order by table_name`;
  const digest: Record<string, string> = {};
  for (const { name } of tables) {
    const [row] = await sql<{ md5: string | null; n: number }[]>`
      select md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) as md5, count(*)::int as n from ${sql(name)} t`;
    digest[name] = `${row!.n}:${row!.md5}`;
  }
  return digest;
}

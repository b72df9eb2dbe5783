import { createSql, type Sql } from '../../src/db/connection.js';
import { migrate } from '../../src/db/migrate.js';

export interface ScratchDatabase {
  url: string;
  sql: Sql;
  drop(): Promise<void>;
}

/**
 * A database of its own on the given PostgreSQL server for one benchmark or scenario run (so runs never collide),
 * migrated unless told otherwise; drop() ends the pool and removes it.
 */
export async function createScratchDatabase(
  serverUrl: string,
  tag: string,
  options: { migrated?: boolean; poolSize?: number } = {},
): Promise<ScratchDatabase> {
  const name = `strava_sync_${tag}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
  const admin = createSql(serverUrl, { max: 1 });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const sql = createSql(url.toString(), { max: options.poolSize ?? 4, applicationName: `strava-sync-${tag}` });
  if (options.migrated ?? true) await migrate(sql);
  return {
    url: url.toString(),
    sql,
    async drop() {
      await sql.end({ timeout: 1 });
      const cleanup = createSql(serverUrl, { max: 1 });
      await cleanup.unsafe(`drop database if exists ${name} with (force)`);
      await cleanup.end();
    },
  };
}

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, inject } from 'vitest';
import { createSql, type Sql } from '../../src/db/connection.js';
import { migrate } from '../../src/db/migrate.js';

/** The run's PostgreSQL server, chosen by the global setup (DATABASE_URL's, or an embedded one). */
export const SERVER_URL = inject('databaseServerUrl');

export interface TestDatabase {
  url: string;
  name: string;
  sql: Sql;
}

function urlFor(name: string): string {
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Creates a fresh, empty database (optionally migrated); drop() removes it and every connection to it. */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase & { drop(): Promise<void> }> {
  const name = `strava_sync_test_${randomBytes(6).toString('hex')}`;
  const admin = createSql(SERVER_URL, { max: 1 });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = urlFor(name);
  const sql = createSql(url, { max: 10, applicationName: 'strava-sync-test' });
  if (options.migrated ?? true) await migrate(sql);
  return {
    url,
    name,
    sql,
    async drop() {
      await sql.end({ timeout: 1 });
      const cleanup = createSql(SERVER_URL, { max: 1 });
      await cleanup.unsafe(`drop database if exists ${name} with (force)`);
      await cleanup.end();
    },
  };
}

/** Gives the calling test file its own migrated database for its lifetime. */
export function useTestDatabase(options: { migrated?: boolean } = {}): TestDatabase {
  const db = {} as TestDatabase;
  let drop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const created = await createTestDatabase(options);
    Object.assign(db, { url: created.url, name: created.name, sql: created.sql });
    drop = created.drop;
  });
  afterAll(async () => {
    await drop?.();
  });
  return db;
}

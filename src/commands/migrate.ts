import { loadConfigOrExit } from '../config.js';
import { createSql } from '../db/connection.js';
import { ensureDatabase, migrate } from '../db/migrate.js';

export async function run(_args: string[]): Promise<void> {
  const config = loadConfigOrExit();
  await ensureDatabase(config.DATABASE_URL, (url) => createSql(url, { max: 1 }));
  const sql = createSql(config.DATABASE_URL, { max: 1, applicationName: 'strava-sync-migrate' });
  try {
    const result = await migrate(sql);
    console.log(result.applied.length ? `applied: ${result.applied.join(', ')}` : 'database is up to date');
  } finally {
    await sql.end();
  }
}

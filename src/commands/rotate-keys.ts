import { loadConfigOrExit } from '../config.js';
import { createSql } from '../db/connection.js';
import { createStravaServices } from '../strava/services.js';

/**
 * `strava-sync rotate-keys`: re-encrypts every stored token under TOKEN_ENCRYPTION_KEY. Rotation procedure:
 * put the old key in TOKEN_DECRYPTION_KEYS, the new one in TOKEN_ENCRYPTION_KEY, restart, run this, then drop
 * the old key from TOKEN_DECRYPTION_KEYS.
 */
export async function run(_args: string[]): Promise<void> {
  const config = loadConfigOrExit();
  const sql = createSql(config.DATABASE_URL, { max: 2, applicationName: 'strava-sync-rotate-keys' });
  try {
    const { vault } = createStravaServices(config, sql);
    const changed = await vault.reencryptAll();
    console.log(`re-encrypted ${changed} token row(s) under key ${config.tokenKeyId}`);
  } finally {
    await sql.end();
  }
}

import type { Db } from '../connection.js';

/** Encrypted OAuth tokens (table tokens). Encryption and refresh policy live in src/strava/token-vault.ts. */

export interface EncryptedTokenRow {
  athleteId: number;
  accessTokenEnc: Buffer;
  refreshTokenEnc: Buffer;
  expiresAt: Date;
  keyId: string;
  refreshedAt: Date | null;
  refreshCount: number;
}

const columns = (sql: Db) =>
  sql`athlete_id as "athleteId", access_token_enc as "accessTokenEnc", refresh_token_enc as "refreshTokenEnc",
      expires_at as "expiresAt", key_id as "keyId", refreshed_at as "refreshedAt", refresh_count as "refreshCount"`;

/** Stores a fresh token pair (connect or reconnect). */
export async function upsertTokens(
  sql: Db,
  row: { athleteId: number; accessTokenEnc: Buffer; refreshTokenEnc: Buffer; expiresAt: Date; keyId: string },
): Promise<void> {
  await sql`
    insert into tokens (athlete_id, access_token_enc, refresh_token_enc, expires_at, key_id, refreshed_at, updated_at)
    values (${row.athleteId}, ${row.accessTokenEnc}, ${row.refreshTokenEnc}, ${row.expiresAt}, ${row.keyId}, null, now())
    on conflict (athlete_id) do update set
      access_token_enc = excluded.access_token_enc,
      refresh_token_enc = excluded.refresh_token_enc,
      expires_at = excluded.expires_at,
      key_id = excluded.key_id,
      refreshed_at = null,
      updated_at = now()`;
}

/** Reads the row; with forUpdate the caller (inside a transaction) holds its lock until commit. */
export async function readTokens(sql: Db, athleteId: number, options: { forUpdate?: boolean } = {}): Promise<EncryptedTokenRow | undefined> {
  const [row] = await sql<EncryptedTokenRow[]>`
    select ${columns(sql)} from tokens where athlete_id = ${athleteId} ${options.forUpdate ? sql`for update` : sql``}`;
  return row;
}

/** Records a refresh (the caller holds the row lock). */
export async function saveRefreshedTokens(
  sql: Db,
  row: { athleteId: number; accessTokenEnc: Buffer; refreshTokenEnc: Buffer; expiresAt: Date; keyId: string },
): Promise<void> {
  await sql`
    update tokens set
      access_token_enc = ${row.accessTokenEnc},
      refresh_token_enc = ${row.refreshTokenEnc},
      expires_at = ${row.expiresAt},
      key_id = ${row.keyId},
      refreshed_at = now(),
      refresh_count = refresh_count + 1,
      updated_at = now()
    where athlete_id = ${row.athleteId}`;
}

/** Re-encryption under a new key: values unchanged, ciphertexts and key id replaced. */
export async function replaceCiphertexts(
  sql: Db,
  row: { athleteId: number; accessTokenEnc: Buffer; refreshTokenEnc: Buffer; keyId: string },
): Promise<void> {
  await sql`
    update tokens set access_token_enc = ${row.accessTokenEnc}, refresh_token_enc = ${row.refreshTokenEnc},
      key_id = ${row.keyId}, updated_at = now()
    where athlete_id = ${row.athleteId}`;
}

export async function deleteTokens(sql: Db, athleteId: number): Promise<boolean> {
  const result = await sql`delete from tokens where athlete_id = ${athleteId}`;
  return result.count > 0;
}

export async function athleteIdsWithOtherKey(sql: Db, keyId: string): Promise<number[]> {
  const rows = await sql<{ athleteId: number }[]>`
    select athlete_id as "athleteId" from tokens where key_id <> ${keyId} order by athlete_id`;
  return rows.map((r) => r.athleteId);
}

/** How often the athlete's tokens were refreshed since they were stored (0 without tokens). */
export async function tokenRefreshCount(sql: Db, athleteId: number): Promise<number> {
  const [row] = await sql<{ refreshCount: number }[]>`select refresh_count as "refreshCount" from tokens where athlete_id = ${athleteId}`;
  return row?.refreshCount ?? 0;
}

import type { Db } from '../connection.js';

/**
 * Marks an OAuth state nonce as used. Returns false when it was used before (a replay). Expired rows are pruned
 * on the way: a signed state past its expiry is refused by its signature check, so the row is no longer needed.
 */
export async function consumeOAuthState(sql: Db, nonce: string, expiresAt: Date): Promise<boolean> {
  await sql`delete from oauth_states where expires_at < now() - interval '1 minute'`;
  const inserted = await sql`
    insert into oauth_states (nonce, expires_at) values (${nonce}, ${expiresAt})
    on conflict (nonce) do nothing`;
  return inserted.count === 1;
}

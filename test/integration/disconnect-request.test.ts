import { describe, expect, it } from 'vitest';
import { markDisconnectRequested, purgeAthlete, upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { readTokens, upsertTokens } from '../../src/db/repositories/tokens.js';
import { useTestDatabase } from '../helpers/database.js';

/**
 * The purge of a disconnect runs only while the athlete's request stands (migration 014): a reconnect stored by the
 * OAuth callback before the purge ran withdraws it, and its new tokens stay (the chaos test found them deleted).
 */

const db = useTestDatabase();
let nextId = 900_000_001;

async function connect(athleteId: number, token: string): Promise<void> {
  await db.sql.begin(async (tx) => {
    await upsertConnectedAthlete(tx, athleteId, ['read', 'activity:read_all']);
    await upsertTokens(tx, { athleteId, accessTokenEnc: Buffer.from(token), refreshTokenEnc: Buffer.from(token), expiresAt: new Date(Date.now() + 3_600_000), keyId: 'k' });
  });
}

describe('the purge of a disconnect', () => {
  it('purges while the request stands', async () => {
    const id = nextId++;
    await connect(id, 'first');
    await markDisconnectRequested(db.sql, id);
    expect(await purgeAthlete(db.sql, id, { onlyIfDisconnectRequested: true })).toEqual({ activitiesDeleted: 0, purged: true });
    expect(await readTokens(db.sql, id)).toBeUndefined();
    const [row] = await db.sql<{ state: string; requested: Date | null }[]>`select state, disconnect_requested_at as requested from athletes where id = ${id}`;
    expect(row).toEqual({ state: 'revoked', requested: null });
  });

  it('does nothing when the athlete connected again after asking, and keeps the new tokens', async () => {
    const id = nextId++;
    await connect(id, 'first');
    await markDisconnectRequested(db.sql, id);
    await connect(id, 'second');
    expect(await purgeAthlete(db.sql, id, { onlyIfDisconnectRequested: true })).toEqual({ activitiesDeleted: 0, purged: false });
    expect((await readTokens(db.sql, id))?.accessTokenEnc.toString()).toBe('second');
    // A deauthorization purge does not ask.
    expect(await purgeAthlete(db.sql, id)).toMatchObject({ purged: true });
    expect(await readTokens(db.sql, id)).toBeUndefined();
  });
});

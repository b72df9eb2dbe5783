import { describe, expect, it } from 'vitest';
import { createSql } from '../../src/db/connection.js';
import { getAthlete, upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { useTestDatabase } from '../helpers/database.js';

describe('array parameters', () => {
  const db = useTestDatabase();

  it('work as the very first query of a fresh pool (postgres.js has fetched no array types yet)', async () => {
    const fresh = createSql(db.url, { max: 1 });
    try {
      await upsertConnectedAthlete(fresh, 4242, ['read', 'activity:read_all']);
      const [row] = await fresh`select ${12_000_000_001} = any(${fresh.array(['12000000001'], 1016)}) as found`;
      expect(row?.found).toBe(true);
    } finally {
      await fresh.end();
    }
    expect((await getAthlete(db.sql, 4242))?.scopes).toEqual(['read', 'activity:read_all']);
  });
});

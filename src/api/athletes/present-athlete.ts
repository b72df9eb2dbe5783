import type { z } from 'zod';
import type { AthleteRow } from '../../db/repositories/athletes.js';
import type { athleteRecordFields } from './schemas.js';

type AthleteRecord = { [K in keyof typeof athleteRecordFields]: z.infer<(typeof athleteRecordFields)[K]> };

export const iso = (date: Date | null): string | null => (date ? date.toISOString() : null);

/** The athlete row in the shape of `athleteRecordFields`, shared by the status and admin routes. */
export function presentAthlete(row: AthleteRow): AthleteRecord {
  return {
    athleteId: row.id,
    state: row.state,
    scopes: row.scopes,
    connectedAt: row.connectedAt.toISOString(),
    revokedAt: iso(row.revokedAt),
    lastSyncAt: iso(row.lastSyncAt),
    lastBackfillAt: iso(row.lastBackfillAt),
  };
}

import { expect } from 'vitest';
import type { Sql } from '../../../src/db/connection.js';
import type { RunningEmulator } from '../../../src/emulator/index.js';
import { statusQuery } from '../../../src/workflows/messages.js';
import { waitFor } from '../../helpers/wait-for.js';
import type { Handle } from '../workflow-harness.js';

/** Comparisons of the database with the emulator (Strava's ground truth) and of what the emulator served. */

export interface Row {
  id: number;
  name: string;
  private: boolean;
  sport_type: string;
}

export async function storedActivities(sql: Sql, athleteId: number): Promise<Row[]> {
  return sql<Row[]>`select id, name, private, sport_type from activities where athlete_id = ${athleteId} order by id`;
}

export async function truthActivities(emulator: RunningEmulator, athleteId: number): Promise<Row[]> {
  const visible = await emulator.control.groundTruth(athleteId);
  return visible
    .map((a) => ({ id: a.id, name: a.name, private: a.private, sport_type: a.sport_type }))
    .sort((a, b) => a.id - b.id);
}

/** Waits until the database holds exactly what Strava shows the app for this athlete. */
export async function expectConverged(sql: Sql, emulator: RunningEmulator, athleteId: number, timeoutMs = 30_000, handle?: Handle) {
  const read = () => Promise.all([storedActivities(sql, athleteId), truthActivities(emulator, athleteId)]);
  try {
    await waitFor(read, ([rows, expected]) => JSON.stringify(rows) === JSON.stringify(expected), {
      timeoutMs,
      intervalMs: 200,
      what: 'the database to hold what Strava shows',
    });
  } catch (error) {
    if (handle) console.error('status at timeout', JSON.stringify(await handle.query(statusQuery)));
    // The row-by-row difference says more than the last value of the wait.
    const [rows, expected] = await read();
    expect(rows).toEqual(expected);
    throw error;
  }
}

/** Rows of the athlete and distinct ids among them (equal: no duplicates). */
export async function rowCounts(sql: Sql, athleteId: number): Promise<{ rows: number; ids: number }> {
  const [counts] = await sql<[{ rows: number; ids: number }]>`
    select count(*)::int as rows, count(distinct id)::int as ids from activities where athlete_id = ${athleteId}`;
  return counts;
}

/** GET /athlete/activities requests the emulator served (any status). */
export async function listRequests(emulator: RunningEmulator): Promise<number> {
  const counters = await emulator.control.counters();
  return Object.values(counters.requests['GET /api/v3/athlete/activities'] ?? {}).reduce((a, b) => a + b, 0);
}

/** 429 responses the emulator served, on any endpoint. */
export async function tooManyRequests(emulator: RunningEmulator): Promise<number> {
  const counters = await emulator.control.counters();
  return Object.values(counters.requests).reduce((n, byStatus) => n + (byStatus['429'] ?? 0), 0);
}

/** 5xx responses the emulator served, by endpoint ("GET /api/v3/activities/{id}" -> count). */
export async function serverErrorsByEndpoint(emulator: RunningEmulator): Promise<Record<string, number>> {
  const counters = await emulator.control.counters();
  const result: Record<string, number> = {};
  for (const [endpoint, byStatus] of Object.entries(counters.requests)) {
    const errors = Object.entries(byStatus).reduce((n, [status, count]) => n + (Number(status) >= 500 ? count : 0), 0);
    if (errors > 0) result[endpoint] = errors;
  }
  return result;
}

import postgres from 'postgres';
import { ARRAY_TYPES, BIGINT_ARRAY_OID, TEXT_ARRAY_OID } from './array-types.js';
import { assertDriverPatched } from './driver-patch.js';

export type Sql = postgres.Sql;
/** A pool or an open transaction: repositories accept either, so callers choose the transaction boundary. */
export type Db = postgres.Sql | postgres.TransactionSql;

export interface SqlOptions {
  max?: number;
  /** Shown in pg_stat_activity, so an operator can tell the api from the worker. */
  applicationName?: string;
}

// Array parameters name their type explicitly, and the array types are static (array-types.ts): postgres.js does
// not fetch them from the database.

export const textArray = (sql: Db, values: readonly string[]) => sql.array([...values], TEXT_ARRAY_OID);
export const bigintArray = (sql: Db, values: readonly number[]) => sql.array(values.map(String), BIGINT_ARRAY_OID);

/** The one place a PostgreSQL connection pool is made. */
export function createSql(databaseUrl: string, options: SqlOptions = {}): Sql {
  assertDriverPatched();
  return postgres(databaseUrl, {
    max: options.max ?? 10,
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? 'strava-sync' },
    types: {
      // Strava ids exceed 2^31; bigint columns come back as JS numbers (ids stay below 2^53).
      bigint: { to: 20, from: [20], serialize: (value: number | bigint) => String(value), parse: (text: string) => Number(text) },
      ...ARRAY_TYPES,
    },
    transform: { undefined: null },
    // See array-types.ts: the fetch postgres.js would run on every new connection can crash the process.
    fetch_types: false,
  });
}

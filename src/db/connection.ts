import postgres from 'postgres';
import { installDriverCrashGuard } from './driver-crash-guard.js';

export type Sql = postgres.Sql;
/** A pool or an open transaction: repositories accept either, so callers choose the transaction boundary. */
export type Db = postgres.Sql | postgres.TransactionSql;

export interface SqlOptions {
  max?: number;
  /** Shown in pg_stat_activity, so an operator can tell the api from the worker. */
  applicationName?: string;
}

/** The one place a PostgreSQL connection pool is made. */
export function createSql(databaseUrl: string, options: SqlOptions = {}): Sql {
  installDriverCrashGuard();
  return postgres(databaseUrl, {
    max: options.max ?? 10,
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? 'strava-sync' },
    types: {
      // Strava ids exceed 2^31; bigint columns come back as JS numbers (ids stay below 2^53).
      bigint: { to: 20, from: [20], serialize: (value: number | bigint) => String(value), parse: (text: string) => Number(text) },
    },
    transform: { undefined: null },
  });
}

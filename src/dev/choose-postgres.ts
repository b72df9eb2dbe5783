/**
 * Which PostgreSQL `npm start` uses: DATABASE_URL when the user gave one (always, even if it does not answer:
 * they asked for that server), else the server at the default address when one answers there, else an embedded
 * PostgreSQL started for the session (data kept in the data directory, so it is reused across restarts).
 */
import { postgresAnswers, startEmbeddedPostgres, type EmbeddedPostgresOptions, type RunningPostgres } from './embedded-postgres.js';

export type PostgresChoice =
  | { kind: 'given'; url: string }
  | { kind: 'found'; url: string }
  | { kind: 'embedded'; url: string; server: RunningPostgres; defaultUrl: string };

export interface ChoosePostgresOptions {
  /** DATABASE_URL as the user set it (unset or empty: not given). */
  givenUrl: string | undefined;
  /** The address tried when none is given (the config's default); a parameter so tests can aim it at a free port. */
  defaultUrl: string;
  embedded: Omit<EmbeddedPostgresOptions, 'maxConnections' | 'throwAway'>;
}

export async function choosePostgres(options: ChoosePostgresOptions): Promise<PostgresChoice> {
  if (options.givenUrl) return { kind: 'given', url: options.givenUrl };
  if (await postgresAnswers(options.defaultUrl)) return { kind: 'found', url: options.defaultUrl };
  const server = await startEmbeddedPostgres(options.embedded);
  const database = decodeURIComponent(new URL(options.defaultUrl).pathname.slice(1)) || 'postgres';
  return { kind: 'embedded', url: server.urlFor(database), server, defaultUrl: options.defaultUrl };
}

/** The URL without its password, for start-up lines and errors. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable URL>';
  }
}

/** The start-up line saying which PostgreSQL this session uses. */
export function describePostgres(choice: PostgresChoice): string {
  switch (choice.kind) {
    case 'given':
      return `PostgreSQL at DATABASE_URL ${redactUrl(choice.url)}`;
    case 'found':
      return `PostgreSQL already running at ${redactUrl(choice.url)}`;
    case 'embedded':
      return `embedded PostgreSQL ${choice.server.version} at ${choice.url} (nothing answered at ${redactUrl(choice.defaultUrl)}; ` +
        `data in ${choice.server.dataDir}${choice.server.initialised ? ', just created' : ''}; runs as ${choice.server.user})`;
  }
}

import pino, { type Logger } from 'pino';

/**
 * Paths pino censors wherever they appear in a log object. Request logs never include query strings or bodies
 * (the OAuth callback's code/state and the handshake's verify token travel in the query), so these guard the
 * remaining ways a secret could slip into a log line: headers and objects passed to a log call.
 */
export const REDACT_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  '*.authorization',
  'accessToken',
  'refreshToken',
  'access_token',
  'refresh_token',
  'client_secret',
  'clientSecret',
  'token',
  '*.accessToken',
  '*.refreshToken',
  '*.access_token',
  '*.refresh_token',
  '*.client_secret',
  '*.clientSecret',
  '*.token',
  '*.tokens',
  'tokens',
  'tokens.*',
  '*.tokens.*',
];

export interface LoggerOptions {
  level?: string;
  name?: string;
  /** Tests pass a stream to capture output. */
  destination?: pino.DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      name: options.name ?? 'strava-sync-api',
      level: options.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    options.destination,
  );
}

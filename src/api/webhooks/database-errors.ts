import { TimeoutError } from '../http/timeout.js';

/**
 * Why PostgreSQL did not take an event, as far as the receiver must care:
 * - `unreachable`: no answer (connection refused, lost or timed out, server shutting down). Only then may the
 *   receiver fall back to signalling a running workflow directly: the event is fine, the database is not.
 * - `bad_input`: PostgreSQL refused a value of the event (SQLSTATE class 22, data exception): a 400.
 * - `other`: anything else (a constraint, a bug, a missing migration): a 500, and the event goes nowhere.
 * Anything not positively recognised as a connection failure is never treated as one: that fallback skips the
 * database's checks, so an input that makes the insert fail must not be able to reach it.
 */
export type DatabaseFailure = 'unreachable' | 'bad_input' | 'other';

/** Error codes of postgres.js and of Node's sockets/DNS that mean "no connection to PostgreSQL". */
const CONNECTION_ERROR_CODES = new Set([
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE',
]);
/** admin_shutdown, crash_shutdown, cannot_connect_now. Class 08 (connection exception) is matched by prefix. */
const SHUTDOWN_SQLSTATES = new Set(['57P01', '57P02', '57P03']);

export function classifyDatabaseError(error: unknown): DatabaseFailure {
  if (error instanceof TimeoutError) return 'unreachable';
  const code = errorCode(error);
  if (code === undefined) return 'other';
  if (CONNECTION_ERROR_CODES.has(code) || SHUTDOWN_SQLSTATES.has(code)) return 'unreachable';
  if (/^08[0-9A-Z]{3}$/.test(code)) return 'unreachable';
  if (/^22[0-9A-Z]{3}$/.test(code)) return 'bad_input';
  return 'other';
}

/** The code to log: a SQLSTATE or driver code, never the message (which may quote the offending value). */
export function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code)) return code;
  // Node reports a refused connection to every address of a name as an AggregateError of socket errors.
  if (error instanceof AggregateError) {
    const codes = error.errors.map(errorCode);
    if (codes.length > 0 && codes.every((c) => c !== undefined && CONNECTION_ERROR_CODES.has(c))) return codes[0];
  }
  return undefined;
}

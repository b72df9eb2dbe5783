import type { FaultError } from './schemas.js';

/**
 * One error taxonomy for every Strava call. Callers (activities, API routes) decide from `retryable` and
 * `retryAfterMs` alone, and tell errors apart by `kind` (src/activities/failures.ts maps each kind to a Temporal
 * failure type); `name` equals the class name, for logs.
 * Messages name the endpoint (path only, never the query string: push subscription calls carry the client
 * secret there) and Strava's Fault codes; they never contain tokens or secrets.
 */
export type StravaErrorKind =
  | 'token_invalid'
  | 'missing_scope'
  | 'not_found'
  | 'rate_limited'
  | 'app_forbidden'
  | 'server_error'
  | 'bad_request'
  | 'invalid_response'
  | 'needs_reauth'
  | 'rate_budget_exhausted';

export interface StravaErrorDetails {
  status?: number | undefined;
  retryable: boolean;
  retryAfterMs?: number | undefined;
  /** e.g. "GET /athlete/activities": method and path, never the query. */
  endpoint?: string | undefined;
  /** Strava's Fault `errors`, when the response carried them. */
  errors?: FaultError[] | undefined;
  cause?: unknown;
}

export class StravaError extends Error {
  readonly status: number | undefined;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly endpoint: string | undefined;
  readonly errors: FaultError[];

  constructor(
    readonly kind: StravaErrorKind,
    message: string,
    details: StravaErrorDetails,
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'StravaError';
    this.status = details.status;
    this.retryable = details.retryable;
    this.retryAfterMs = details.retryAfterMs;
    this.endpoint = details.endpoint;
    this.errors = details.errors ?? [];
  }
}

type Details = Omit<StravaErrorDetails, 'retryable'>;

/** 401 on an access token: expired, revoked or malformed. Not retryable with the same token. */
export class StravaTokenInvalidError extends StravaError {
  constructor(message: string, details: Details = {}) {
    super('token_invalid', message, { ...details, retryable: false });
    this.name = 'StravaTokenInvalidError';
  }
}

/** 401 `activity:read_permission missing`: the athlete did not grant the scope; retrying cannot help. */
export class StravaMissingScopeError extends StravaError {
  constructor(message: string, details: Details = {}) {
    super('missing_scope', message, { ...details, retryable: false });
    this.name = 'StravaMissingScopeError';
  }
}

/** 404, with or without a body. Right after a `create` webhook it may mean "still processing": the caller decides. */
export class StravaNotFoundError extends StravaError {
  constructor(message: string, details: Details = {}) {
    super('not_found', message, { ...details, retryable: false });
    this.name = 'StravaNotFoundError';
  }
}

/** 429 from Strava. retryAfterMs reaches the next 15-minute boundary (or UTC midnight when the day is spent). */
export class StravaRateLimitedError extends StravaError {
  constructor(message: string, details: Details & { retryAfterMs: number }) {
    super('rate_limited', message, { ...details, retryable: true });
    this.name = 'StravaRateLimitedError';
  }
}

/**
 * 403: the application is inactive or over its connected-athlete limit; also a 401 from /oauth/token, which
 * rejects the application's credentials (client id/secret), not the athlete's. App-wide, not the athlete's fault:
 * nothing an athlete-level retry fixes soon, so it is retryable only slowly (an operator has to act).
 */
export class StravaAppForbiddenError extends StravaError {
  static readonly RETRY_AFTER_MS = 15 * 60_000;
  constructor(message: string, details: Details = {}) {
    super('app_forbidden', message, { retryAfterMs: StravaAppForbiddenError.RETRY_AFTER_MS, ...details, retryable: true });
    this.name = 'StravaAppForbiddenError';
  }
}

/** 5xx, network failure or timeout: retryable with the caller's backoff. */
export class StravaServerError extends StravaError {
  constructor(message: string, details: Details = {}) {
    super('server_error', message, { ...details, retryable: true });
    this.name = 'StravaServerError';
  }
}

/** 400 (and other unexpected 4xx): the request itself is wrong; carries Strava's Fault `errors`. */
export class StravaBadRequestError extends StravaError {
  constructor(message: string, details: Details = {}) {
    super('bad_request', message, { ...details, retryable: false });
    this.name = 'StravaBadRequestError';
  }
}

/** A 2xx response whose body does not match the schema: retrying the same call would get the same body. */
export class StravaInvalidResponseError extends StravaError {
  constructor(message: string, details: Details = {}) {
    super('invalid_response', message, { ...details, retryable: false });
    this.name = 'StravaInvalidResponseError';
  }
}

/**
 * Strava rejected the athlete's refresh token (or no tokens are stored). The vault has already set the
 * athlete's state to needs_reauth; nothing should retry until the athlete reconnects.
 */
export class NeedsReauthError extends StravaError {
  constructor(
    readonly athleteId: number,
    readonly reason: 'refresh_token_invalid' | 'no_tokens',
  ) {
    super(
      'needs_reauth',
      reason === 'no_tokens'
        ? `athlete ${athleteId} has no stored Strava tokens; the athlete must connect again`
        : `Strava rejected the refresh token of athlete ${athleteId}; the athlete must connect again`,
      { retryable: false },
    );
    this.name = 'NeedsReauthError';
  }
}

/** The rate governor refused to send the call; retry after waitMs (the next boundary where the priority may go). */
export class RateBudgetExhaustedError extends StravaError {
  constructor(
    readonly waitMs: number,
    readonly reason: string,
  ) {
    super('rate_budget_exhausted', `Strava rate budget exhausted (${reason}); retry in ${Math.ceil(waitMs / 1000)} s`, {
      retryable: true,
      retryAfterMs: waitMs,
    });
    this.name = 'RateBudgetExhaustedError';
  }
}

/** Strava's answer to a refresh with a bad refresh token: 400 RefreshToken.refresh_token invalid. */
export function isInvalidRefreshTokenError(error: unknown): boolean {
  return (
    error instanceof StravaBadRequestError &&
    error.errors.some((e) => e.resource === 'RefreshToken' || e.field === 'refresh_token')
  );
}

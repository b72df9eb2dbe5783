/** Which error a Strava answer that is not 2xx is, from its status, endpoint and Fault body (pure). */
import {
  StravaAppForbiddenError,
  StravaBadRequestError,
  StravaMissingScopeError,
  StravaNotFoundError,
  StravaRateLimitedError,
  StravaServerError,
  StravaTokenInvalidError,
  type StravaError,
} from './errors.js';
import { retryAfterFor429, type RateUsage } from './rate-headers.js';
import { faultSchema, type Fault } from './schemas.js';

export interface FailedResponse {
  status: number;
  /** "METHOD /path": never the query string (push subscription calls carry the client secret there). */
  endpoint: string;
  /** The parsed body (a Fault, an empty body, or anything else Strava sent). */
  json: unknown;
  usage: RateUsage | undefined;
  /** Epoch ms: a 429's wait runs to the next window boundary. */
  now: number;
}

export function errorForResponse({ status, endpoint, json, usage, now }: FailedResponse): StravaError {
  const faultResult = faultSchema.safeParse(json);
  const fault = faultResult.success ? faultResult.data : undefined;
  const errors = fault?.errors ?? [];
  const detail = describeFault(fault);
  const message = `Strava ${endpoint} answered ${status}${detail ? ` (${detail})` : ''}`;
  const details = { status, endpoint, errors };
  // A 401 from the token endpoint judges the application's credentials (Strava's Application/""/invalid),
  // never the athlete's tokens: taking it for a revoked athlete would purge a healthy one. App-wide, like 403.
  if (status === 401 && endpoint === 'POST /oauth/token') return new StravaAppForbiddenError(message, details);
  if (status === 401) {
    const missingScope = errors.some((e) => e.code === 'missing' || (e.field ?? '').endsWith('_permission'));
    return missingScope ? new StravaMissingScopeError(message, details) : new StravaTokenInvalidError(message, details);
  }
  if (status === 403) return new StravaAppForbiddenError(message, details);
  if (status === 404) return new StravaNotFoundError(message, details);
  if (status === 429) return new StravaRateLimitedError(message, { ...details, retryAfterMs: retryAfterFor429(now, usage) });
  if (status >= 500) return new StravaServerError(message, details);
  return new StravaBadRequestError(message, details);
}

/** Strava's message and Fault codes, short: they go into error messages and logs (never tokens: Faults hold none). */
function describeFault(fault: Fault | undefined): string {
  const parts = (fault?.errors ?? []).map((e) => [e.resource, e.field, e.code].filter(Boolean).join(' '));
  const message = typeof fault?.message === 'string' ? fault.message.slice(0, 100) : undefined;
  return [message, ...parts].filter(Boolean).join('; ');
}

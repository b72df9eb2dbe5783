import type { z } from 'zod';
import { StravaInvalidResponseError, StravaServerError } from './errors.js';
import { parseRateHeaders, type RateUsage } from './rate-headers.js';
import { errorForResponse } from './response-errors.js';
import {
  athleteSchema,
  detailedActivitySchema,
  summaryActivityListSchema,
  type DetailedActivity,
  type StravaAthlete,
  type SummaryActivity,
} from '../domain/strava-objects.js';
import {
  deauthorizeResponseSchema,
  pushSubscriptionListSchema,
  pushSubscriptionSchema,
  tokenResponseSchema,
  type PushSubscription,
  type TokenResponse,
} from './schemas.js';

/**
 * Typed Strava API v3 client. Every request has a timeout and honours the caller's AbortSignal; connections
 * are pooled and kept alive by Node's fetch (undici's global agent). Every API response's rate-limit headers
 * are parsed and handed to `onRateUsage` (client-wide) and to the per-call `onRateUsage`, errors included.
 * The client holds no tokens: callers pass the access token per call (athlete-api.ts takes it from the vault).
 */

export interface TokenSet {
  accessToken: string;
  refreshToken: string;
  expiresAt: Date;
}

export interface StravaClientOptions {
  apiUrl: string;
  oauthUrl: string;
  clientId: string;
  clientSecret: string;
  timeoutMs: number;
  onRateUsage?: (usage: RateUsage) => void;
  /** Clock used to compute retry delays (tests follow the emulator's clock). */
  now?: () => number;
  fetch?: typeof fetch;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Receives this call's rate-limit usage (success or error), before the call resolves or rejects. */
  onRateUsage?: (usage: RateUsage) => void;
}

export interface ListActivitiesParams {
  /** Epoch SECONDS (Strava rejects milliseconds) or a Date. */
  before?: number | Date;
  after?: number | Date;
  page?: number;
  perPage?: number;
}

export interface StravaClient {
  authorizeUrl(params: { redirectUri: string; scope: string; state: string; approvalPrompt?: 'auto' | 'force' }): string;
  exchangeCode(code: string, options?: CallOptions): Promise<{ tokens: TokenSet; athlete: StravaAthlete }>;
  refreshToken(refreshToken: string, options?: CallOptions): Promise<TokenSet>;
  deauthorize(accessToken: string, options?: CallOptions): Promise<void>;
  getAthlete(accessToken: string, options?: CallOptions): Promise<StravaAthlete>;
  listAthleteActivities(accessToken: string, params?: ListActivitiesParams, options?: CallOptions): Promise<SummaryActivity[]>;
  getActivity(accessToken: string, id: number, options?: CallOptions): Promise<DetailedActivity>;
  createPushSubscription(params: { callbackUrl: string; verifyToken: string }, options?: CallOptions): Promise<PushSubscription>;
  listPushSubscriptions(options?: CallOptions): Promise<PushSubscription[]>;
  deletePushSubscription(id: number, options?: CallOptions): Promise<void>;
}

interface RequestSpec<T> {
  method: 'GET' | 'POST' | 'DELETE';
  base: 'api' | 'oauth';
  path: string;
  query?: Record<string, string | number | undefined>;
  form?: Record<string, string>;
  accessToken?: string;
  schema: z.ZodType<T> | null; // null: no body expected (204)
  options: CallOptions | undefined;
}

function joinUrl(base: string, path: string): URL {
  return new URL(base.replace(/\/+$/, '') + path);
}

function epochSeconds(value: number | Date | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Date) return Math.floor(value.getTime() / 1000);
  // Strava answers 400 to milliseconds; catching it here gives a clearer error than a Fault.
  if (!Number.isInteger(value) || value < 0 || value > 100_000_000_000) {
    throw new RangeError(`${name} must be whole epoch seconds (got ${value})`);
  }
  return value;
}

function toTokenSet(body: TokenResponse): TokenSet {
  return { accessToken: body.access_token, refreshToken: body.refresh_token, expiresAt: new Date(body.expires_at * 1000) };
}

export function createStravaClient(options: StravaClientOptions): StravaClient {
  const now = options.now ?? Date.now;
  const doFetch = options.fetch ?? fetch;

  async function request<T>(spec: RequestSpec<T>): Promise<T> {
    const endpoint = `${spec.method} ${spec.base === 'oauth' ? '/oauth' : ''}${spec.path}`;
    const url = joinUrl(spec.base === 'api' ? options.apiUrl : options.oauthUrl, spec.path);
    for (const [key, value] of Object.entries(spec.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: 'application/json' };
    if (spec.accessToken !== undefined) headers.authorization = `Bearer ${spec.accessToken}`;
    let body: URLSearchParams | undefined;
    if (spec.form) body = new URLSearchParams(spec.form);

    const timeout = AbortSignal.timeout(options.timeoutMs);
    const callerSignal = spec.options?.signal;
    const signal = callerSignal ? AbortSignal.any([callerSignal, timeout]) : timeout;

    let response: Response;
    let text: string;
    try {
      response = await doFetch(url, { method: spec.method, headers, body, signal });
      text = await response.text();
    } catch (error) {
      // The caller's cancellation propagates as is (Temporal activity cancellation); everything else is transient.
      if (callerSignal?.aborted) throw callerSignal.reason ?? error;
      const timedOut = timeout.aborted;
      throw new StravaServerError(
        timedOut ? `Strava ${endpoint} timed out after ${options.timeoutMs} ms` : `Strava ${endpoint} failed: network error`,
        { endpoint, cause: timedOut ? undefined : sanitizeCause(error) },
      );
    }

    // Not only API responses: /oauth/deauthorize carries the rate-limit headers too (strava-ruby-client's
    // recorded deauthorize.yml), and /oauth/token carries none (parseRateHeaders gives undefined).
    const usage = parseRateHeaders(response.headers);
    if (usage) {
      options.onRateUsage?.(usage);
      spec.options?.onRateUsage?.(usage);
    }

    const json = parseJson(text);
    if (!response.ok) throw errorForResponse({ status: response.status, endpoint, json, usage, now: now() });
    if (spec.schema === null) return undefined as T;
    const parsed = spec.schema.safeParse(json);
    if (!parsed.success) {
      // Issue paths only: zod messages could quote values, and token responses hold secrets.
      const paths = parsed.error.issues.slice(0, 5).map((i) => i.path.join('.') || '(root)');
      throw new StravaInvalidResponseError(`Strava ${endpoint} returned an unexpected body (at ${paths.join(', ')})`, {
        status: response.status,
        endpoint,
      });
    }
    return parsed.data;
  }

  const credentials = () => ({ client_id: options.clientId, client_secret: options.clientSecret });

  return {
    authorizeUrl({ redirectUri, scope, state, approvalPrompt = 'auto' }) {
      const url = joinUrl(options.oauthUrl, '/authorize');
      url.searchParams.set('client_id', options.clientId);
      url.searchParams.set('redirect_uri', redirectUri);
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('approval_prompt', approvalPrompt);
      url.searchParams.set('scope', scope);
      url.searchParams.set('state', state);
      return url.toString();
    },

    async exchangeCode(code, callOptions) {
      const body = await request({
        method: 'POST',
        base: 'oauth',
        path: '/token',
        form: { ...credentials(), code, grant_type: 'authorization_code' },
        schema: tokenResponseSchema,
        options: callOptions,
      });
      if (!body.athlete) {
        throw new StravaInvalidResponseError('Strava POST /oauth/token returned no athlete for an authorization code', {
          endpoint: 'POST /oauth/token',
        });
      }
      return { tokens: toTokenSet(body), athlete: body.athlete };
    },

    async refreshToken(refreshToken, callOptions) {
      const body = await request({
        method: 'POST',
        base: 'oauth',
        path: '/token',
        form: { ...credentials(), refresh_token: refreshToken, grant_type: 'refresh_token' },
        schema: tokenResponseSchema,
        options: callOptions,
      });
      return toTokenSet(body);
    },

    async deauthorize(accessToken, callOptions) {
      await request({
        method: 'POST',
        base: 'oauth',
        path: '/deauthorize',
        form: { access_token: accessToken },
        schema: deauthorizeResponseSchema,
        options: callOptions,
      });
    },

    async getAthlete(accessToken, callOptions) {
      return request({ method: 'GET', base: 'api', path: '/athlete', accessToken, schema: athleteSchema, options: callOptions });
    },

    async listAthleteActivities(accessToken, params = {}, callOptions) {
      return request({
        method: 'GET',
        base: 'api',
        path: '/athlete/activities',
        query: {
          before: epochSeconds(params.before, 'before'),
          after: epochSeconds(params.after, 'after'),
          page: params.page,
          per_page: params.perPage,
        },
        accessToken,
        schema: summaryActivityListSchema,
        options: callOptions,
      });
    },

    async getActivity(accessToken, id, callOptions) {
      return request({
        method: 'GET',
        base: 'api',
        path: `/activities/${encodeURIComponent(String(id))}`,
        accessToken,
        schema: detailedActivitySchema,
        options: callOptions,
      });
    },

    async createPushSubscription({ callbackUrl, verifyToken }, callOptions) {
      return request({
        method: 'POST',
        base: 'api',
        path: '/push_subscriptions',
        form: { ...credentials(), callback_url: callbackUrl, verify_token: verifyToken },
        schema: pushSubscriptionSchema,
        options: callOptions,
      });
    },

    async listPushSubscriptions(callOptions) {
      return request({
        method: 'GET',
        base: 'api',
        path: '/push_subscriptions',
        query: credentials(),
        schema: pushSubscriptionListSchema,
        options: callOptions,
      });
    },

    async deletePushSubscription(id, callOptions) {
      await request({
        method: 'DELETE',
        base: 'api',
        path: `/push_subscriptions/${encodeURIComponent(String(id))}`,
        query: credentials(),
        schema: null,
        options: callOptions,
      });
    },
  };
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Network errors from fetch can quote the URL (with its query: client_secret); keep only the error code. */
function sanitizeCause(error: unknown): Error {
  const inner = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  const code = typeof inner?.code === 'string' ? inner.code : error instanceof Error ? error.name : 'unknown';
  return new Error(`network error: ${code}`);
}

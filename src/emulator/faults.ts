/**
 * Faulty bodies Strava sends (byte-exact where strava-api.md knows them) and the response fault knobs.
 */
import { z } from 'zod';

/** Strava's error shape. Key order matters for byte-exact bodies: message, then errors. */
export function faultBody(message: string, resource: string, field: string, code: string): string {
  return JSON.stringify({ message, errors: [{ resource, field, code }] });
}

export const FAULTS = {
  invalidToken: faultBody('Authorization Error', 'Athlete', 'access_token', 'invalid'),
  /** The other 401 for a bad token, recorded in strava-ruby-client's spec/fixtures/strava/client/authorization_error.yml. */
  invalidTokenApplication: faultBody('Authorization Error', 'Application', '', 'invalid'),
  missingActivityScope: faultBody('Authorization Error', 'AccessToken', 'activity:read_permission', 'missing'),
  activityNotFound: faultBody('Resource Not Found', 'Activity', '', 'not found'),
  rateLimited: faultBody('Rate Limit Exceeded', 'Application', 'rate limit', 'exceeded'),
  badRefreshToken: faultBody('Bad Request', 'RefreshToken', 'refresh_token', 'invalid'),
  badCode: faultBody('Bad Request', 'AuthorizationCode', 'code', 'invalid'),
  /** Reported for a reused code (stravalib issue #190). */
  badCodeExpired: faultBody('Bad Request', 'AuthorizationCode', '', 'expired'),
  /** The pre-2019 shape still reported by clients (iamstuartwilson/strava issue #29). */
  badCodeRequestToken: faultBody('Bad Request', 'RequestToken', 'code', 'invalid'),
  // The next three are not in strava-api.md: shaped like Strava's other Faults.
  badClientSecret: faultBody('Bad Request', 'Application', 'client_secret', 'invalid'),
  badClientId: faultBody('Bad Request', 'Application', 'client_id', 'invalid'),
  appInactive: faultBody('Forbidden', 'Application', 'application', 'inactive'),
  callbackFailed: faultBody('Bad Request', 'PushSubscription', 'callback url', 'GET to callback URL does not return 200'),
  subscriptionExists: faultBody('Bad Request', 'PushSubscription', 'callback url', 'already exists'),
  subscriptionNotFound: faultBody('Resource Not Found', 'PushSubscription', 'id', 'not found'),
  serverError: JSON.stringify({ message: 'Internal Server Error', errors: [] }),
  routeNotFound: faultBody('Record Not Found', 'resource', 'path', 'invalid'),
} as const;

export function badParameter(resource: string, field: string): string {
  return faultBody('Bad Request', resource, field, 'invalid');
}

export const faultSettingsSchema = z.object({
  /** Probability that a webhook event is never sent. */
  webhookDropRate: z.number().min(0).max(1),
  /** Probability that an event is sent a second time (after webhookDuplicateDelayMs). */
  webhookDuplicateRate: z.number().min(0).max(1),
  webhookDuplicateDelayMs: z.number().int().min(0),
  /** Extra delay before every event's first attempt. */
  webhookDelayMs: z.number().int().min(0),
  /** Probability that an event is held back by webhookReorderDelayMs, so later events overtake it. */
  webhookReorderRate: z.number().min(0).max(1),
  webhookReorderDelayMs: z.number().int().min(0),
  /** Probability that an API call (under /api/v3) answers apiErrorStatus instead. */
  apiErrorRate: z.number().min(0).max(1),
  apiErrorStatus: z.union([z.literal(500), z.literal(502), z.literal(503), z.literal(504)]),
  /** Added to every API and OAuth response. */
  apiLatencyMs: z.number().int().min(0),
  /** Emulator-clock epoch ms until which every API call gets 429 (still counted). null = off. */
  rateLimitedUntil: z.number().nullable(),
  /** Every API call answers 403: the application is inactive. */
  appInactive: z.boolean(),
  /** create/delete events are sent without the `updates` key at all (some of Strava's senders do). */
  webhookOmitEmptyUpdates: z.boolean(),
  /** 404s (unknown, deleted, hidden, still processing) answer an empty body, as recorded in strava-ruby-client's
   *  not_found_error.yml, and without rate-limit headers like that recording. */
  notFoundEmptyBody: z.boolean(),
  /** 401 for a bad token: 'athlete' (Athlete/access_token/invalid) or 'application' (Application//invalid,
   *  without rate-limit headers, as recorded in strava-ruby-client's authorization_error.yml). 'application'
   *  also answers a wrong client_id/client_secret at /oauth/token with that 401, as pasted in client issues. */
  unauthorizedVariant: z.enum(['athlete', 'application']),
  /** The Fault for a bad authorization code at /oauth/token: AuthorizationCode/code/invalid,
   *  AuthorizationCode//expired, or RequestToken/code/invalid. */
  badCodeVariant: z.enum(['invalid', 'expired', 'request_token']),
});
export type FaultSettings = z.infer<typeof faultSettingsSchema>;

export const NO_FAULTS: FaultSettings = {
  webhookDropRate: 0,
  webhookDuplicateRate: 0,
  webhookDuplicateDelayMs: 200,
  webhookDelayMs: 0,
  webhookReorderRate: 0,
  webhookReorderDelayMs: 500,
  apiErrorRate: 0,
  apiErrorStatus: 500,
  apiLatencyMs: 0,
  rateLimitedUntil: null,
  appInactive: false,
  webhookOmitEmptyUpdates: false,
  notFoundEmptyBody: false,
  unauthorizedVariant: 'athlete',
  badCodeVariant: 'invalid',
};

/** The Fault body for a bad authorization code under the current faults. */
export function badCodeBody(faults: FaultSettings): string {
  if (faults.badCodeVariant === 'expired') return FAULTS.badCodeExpired;
  if (faults.badCodeVariant === 'request_token') return FAULTS.badCodeRequestToken;
  return FAULTS.badCode;
}

/** What setFaults accepts: any subset, plus force429ForMs as a convenience for rateLimitedUntil. */
export const faultPatchSchema = faultSettingsSchema.partial().extend({
  force429ForMs: z.number().int().min(0).optional(),
});
export type FaultPatch = z.input<typeof faultPatchSchema>;

/**
 * `base` with a fault patch applied (start-up options, PATCH /_emulator/faults): `input` is validated against
 * faultPatchSchema, and force429ForMs becomes rateLimitedUntil counted from nowMs.
 */
export function applyFaultPatch(base: FaultSettings, input: unknown, nowMs: number): FaultSettings {
  const { force429ForMs, ...patch } = faultPatchSchema.parse(input);
  const next = faultSettingsSchema.parse({ ...base, ...patch });
  if (force429ForMs !== undefined) next.rateLimitedUntil = nowMs + force429ForMs;
  return next;
}

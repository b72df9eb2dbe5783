/** Start-up options of the emulator, parsed with zod (the CLI and tests pass them). */
import { z } from 'zod';
import { faultPatchSchema } from './faults.js';

/** Strava's webhook retries were seen about 1-2 minutes apart (shared notes, "Delivery"). */
export const DEFAULT_WEBHOOK_RETRY_DELAY_MS = 90_000;

export const refreshRotationSchema = z.union([
  z.literal('never'),
  z.literal('always'),
  z.object({ every: z.number().int().positive() }),
]);
export type RefreshRotation = z.infer<typeof refreshRotationSchema>;

const windowLimitsSchema = z.object({
  fifteenMinute: z.number().int().positive(),
  daily: z.number().int().positive(),
});

export const rateLimitsSchema = z.object({
  overall: windowLimitsSchema.default({ fifteenMinute: 200, daily: 2000 }),
  read: windowLimitsSchema.default({ fifteenMinute: 100, daily: 1000 }),
});
export type RateLimits = z.infer<typeof rateLimitsSchema>;

export const emulatorOptionsSchema = z.object({
  /** 0 picks a free port. */
  port: z.number().int().min(0).max(65535).default(0),
  host: z.string().default('127.0.0.1'),
  seed: z.number().int().default(1),
  clientId: z.string().default('1000'),
  clientSecret: z.string().default('emulator-client-secret'),
  rateLimits: rateLimitsSchema.default({ overall: { fifteenMinute: 200, daily: 2000 }, read: { fifteenMinute: 100, daily: 1000 } }),
  /** Strava: every token call returns a refresh token that "may or may not be the same", the old one dying at
   *  once. 'always' by default so no test silently relies on a stable refresh token. */
  refreshRotation: refreshRotationSchema.default('always'),
  faults: faultPatchSchema.default({}),
  /** Athletes generated at start-up, each with activitiesPerAthlete activities. */
  athletes: z.number().int().min(0).default(0),
  activitiesPerAthlete: z.number().int().min(0).default(0),
  /** Activities generated for an athlete the consent page creates (no athlete_id given): a demo history. */
  consentAthleteActivities: z.number().int().min(0).default(0),
  /** Years the generated histories span. */
  historyYears: z.number().positive().default(3),
  /** Initial emulator clock (epoch ms); default real time. */
  startTimeMs: z.number().optional(),
  /** Access token lifetime (Strava: 6 hours). */
  accessTokenTtlS: z.number().int().positive().default(21_600),
  /** Webhook delivery: per-attempt timeout (Strava: 2 s), attempts in total (Strava: 3), retry spacing
   *  (Strava: retries seen about 1-2 minutes apart, so 90 s; tests that watch retries shorten it explicitly). */
  webhookTimeoutMs: z.number().int().positive().default(2000),
  webhookMaxAttempts: z.number().int().positive().default(3),
  webhookRetryDelayMs: z.number().int().min(0).default(DEFAULT_WEBHOOK_RETRY_DELAY_MS),
  /** Deliveries kept in the webhook log (GET /_emulator/webhooks), oldest dropped first. */
  webhookLogLimit: z.number().int().positive().default(2000),
  /** Timeout of the push-subscription handshake GET (Strava: 2 s). */
  handshakeTimeoutMs: z.number().int().positive().default(2000),
});
export type EmulatorOptions = z.input<typeof emulatorOptionsSchema>;
export type ResolvedEmulatorOptions = z.output<typeof emulatorOptionsSchema>;

import { createHash } from 'node:crypto';
import { z } from 'zod';
import { durationSchema } from './config/duration.js';
import { DEFAULT_BACKGROUND_SHARE, DEFAULT_READ_LIMIT_DAILY } from './domain/read-budget.js';
import { DEFAULT_SYNC_OPTIONS } from './domain/sync-options.js';
import { DEFAULT_BACKGROUND_CONCURRENCY } from './domain/task-queues.js';

/**
 * The environment contract (docs: architecture.md). Every setting has a default that makes local development
 * work with no configuration, except the secrets: outside production they fall back to well-known development
 * values, in production (NODE_ENV=production) a missing secret stops the process.
 */

const DEV_SECRETS = {
  STRAVA_CLIENT_ID: '1000',
  STRAVA_CLIENT_SECRET: 'emulator-client-secret',
  STRAVA_WEBHOOK_VERIFY_TOKEN: 'dev-verify-token',
  // 32 bytes of "dev" material: clearly not a production key.
  TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 'strava-sync-dev-key').toString('base64'),
  ADMIN_API_KEY: 'dev-admin-key',
  OAUTH_STATE_SECRET: 'dev-oauth-state-secret',
  CLIENT_TOKEN_KEYS: Buffer.alloc(32, 'strava-sync-dev-client-token-key').toString('base64'),
} as const;

const SECRET_NAMES = Object.keys(DEV_SECRETS) as (keyof typeof DEV_SECRETS)[];
/**
 * The development values are published (this file, the README, the emulator): in production each one is as good
 * as no secret at all, so setting it explicitly is refused like a missing one. STRAVA_CLIENT_ID is public anyway.
 */
const PUBLISHED_SECRET_NAMES = SECRET_NAMES.filter((name) => name !== 'STRAVA_CLIENT_ID');

const encryptionKey = z.string().transform((text, ctx) => {
  const bytes = Buffer.from(text.trim(), 'base64');
  if (bytes.length !== 32 || bytes.toString('base64') !== text.trim()) {
    ctx.addIssue({ code: 'custom', message: `must be 32 bytes encoded as base64 (got ${bytes.length} bytes); generate one with: openssl rand -base64 32` });
    return z.NEVER;
  }
  return bytes;
});

const oldKeys = z.string().transform((text, ctx) => {
  const keys: Buffer[] = [];
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const bytes = Buffer.from(part, 'base64');
    if (bytes.length !== 32) {
      ctx.addIssue({ code: 'custom', message: 'every entry must be a base64 32-byte key, separated by commas' });
      return z.NEVER;
    }
    keys.push(bytes);
  }
  return keys;
});

/** CLIENT_TOKEN_KEYS: base64 32-byte keys, comma-separated; the first signs new client tokens, every one verifies. */
const signingKeys = oldKeys.refine((keys) => keys.length > 0, 'must hold at least one base64 32-byte key; generate one with: openssl rand -base64 32');

/** A published development value, also as one entry of a key list. */
function isPublished(name: (typeof PUBLISHED_SECRET_NAMES)[number], value: string | undefined): boolean {
  if (value === undefined) return false;
  const entries = name === 'CLIENT_TOKEN_KEYS' ? value.split(',').map((part) => part.trim()) : [value.trim()];
  return entries.includes(DEV_SECRETS[name]);
}

/** `true` or `false`, nothing else: a typo must not silently mean either. */
const booleanSetting = z.enum(['true', 'false'], { error: 'must be true or false' }).transform((text) => text === 'true');

const url = (protocols: string[]) =>
  z.string().refine((text) => {
    try {
      return protocols.includes(new URL(text).protocol);
    } catch {
      return false;
    }
  }, `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);

const port = z.coerce.number().int().min(0).max(65535);
const share = z.coerce.number().gt(0).max(1);
const positiveInt = z.coerce.number().int().positive();

export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: url(['postgres:', 'postgresql:']).default('postgres://postgres@127.0.0.1:5432/strava_sync'),
  DATABASE_POOL_SIZE: positiveInt.default(10),
  TEMPORAL_ADDRESS: z.string().regex(/^[^\s:]+:\d+$/, 'must be host:port, like localhost:7233').default('localhost:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('strava-sync'),
  /** Temporal Web UI base URL (e.g. http://localhost:8233); the management page links each athlete's workflow. */
  TEMPORAL_UI_URL: url(['http:', 'https:']).optional(),
  STRAVA_CLIENT_ID: z.string().regex(/^\d+$/, 'must be the numeric client id of your Strava application'),
  STRAVA_CLIENT_SECRET: z.string().min(1),
  STRAVA_API_URL: url(['http:', 'https:']).default('https://www.strava.com/api/v3'),
  STRAVA_OAUTH_URL: url(['http:', 'https:']).default('https://www.strava.com/oauth'),
  STRAVA_WEBHOOK_VERIFY_TOKEN: z.string().min(1),
  STRAVA_WEBHOOK_PATH_TOKEN: z.string().regex(/^[A-Za-z0-9_-]{16,}$/, 'must be at least 16 URL-safe characters').optional(),
  STRAVA_REQUEST_TIMEOUT: durationSchema.default(30_000),
  PUBLIC_URL: url(['http:', 'https:']).default('http://localhost:3000'),
  ALLOWED_RETURN_ORIGINS: z
    .string()
    .default('')
    .transform((text) => text.split(',').map((o) => o.trim()).filter(Boolean)),
  /**
   * Web origins whose pages may call the athlete routes from the browser with a client token (CORS), e.g.
   * https://app.example.com; comma-separated. Empty: only pages of the API's own origin.
   */
  CLIENT_ORIGINS: z
    .string()
    .default('')
    .transform((text) => text.split(',').map((o) => o.trim()).filter(Boolean))
    .pipe(z.array(z.string().refine((origin) => {
      try {
        const url = new URL(origin);
        return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === origin;
      } catch {
        return false;
      }
    }, 'every entry must be an origin like https://app.example.com (scheme, host and port only)'))),
  TOKEN_ENCRYPTION_KEY: encryptionKey,
  TOKEN_DECRYPTION_KEYS: oldKeys.default([]),
  TOKEN_REFRESH_MARGIN: durationSchema.default(5 * 60_000),
  ADMIN_API_KEY: z.string().min(8, 'must be at least 8 characters'),
  OAUTH_STATE_SECRET: z.string().min(16, 'must be at least 16 characters'),
  /** Keys of the per-athlete client tokens (JWT, HS256): the first signs, all verify (rotation: prepend a new one). */
  CLIENT_TOKEN_KEYS: signingKeys,
  /** Longest lifetime a client token may be minted with (ttlSeconds above it is refused). */
  CLIENT_TOKEN_MAX_TTL: durationSchema.refine((ms) => ms <= 7 * 86_400_000, 'must be at most 7d').default(86_400_000),
  /** Bearer token Prometheus sends to the API's /metrics (the admin key works too); unset: the admin key only. */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  PORT: port.default(3000),
  /**
   * Which proxies may tell the API the client's address (Express "trust proxy"): `loopback` (default), a hop count
   * (`1`: exactly one proxy in front, as nginx in docker-compose.yml), `uniquelocal`, or comma-separated addresses.
   */
  TRUST_PROXY: z
    .string()
    .regex(/^(loopback|linklocal|uniquelocal|\d+|[0-9a-fA-F:.\/]+)(\s*,\s*(loopback|linklocal|uniquelocal|[0-9a-fA-F:.\/]+))*$/,
      'must be loopback, linklocal, uniquelocal, a hop count, or comma-separated addresses/subnets')
    .default('loopback')
    .transform((text) => (/^\d+$/.test(text) ? Number(text) : text)),
  WORKER_METRICS_PORT: port.default(9464),
  /** Athlete workflows the worker keeps cached (unset: half the process's memory at ~0.8 MiB each; src/worker/workflow-cache-size.ts). */
  WORKER_MAX_CACHED_WORKFLOWS: positiveInt.optional(),
  /** Background activities (import pages, backfills, re-sync pages) each worker runs at once (src/domain/task-queues.ts). */
  WORKER_BACKGROUND_CONCURRENCY: positiveInt.default(DEFAULT_BACKGROUND_CONCURRENCY),
  BACKFILL_INTERVAL: durationSchema.default(DEFAULT_SYNC_OPTIONS.backfillIntervalMs),
  BACKFILL_OVERLAP: durationSchema.default(DEFAULT_SYNC_OPTIONS.backfillOverlapMs),
  /** Backfill frequency follows the webhook evidence (docs/workflow.md, "Adaptive backfill"); false: the base interval. */
  BACKFILL_ADAPTIVE: booleanSetting.default(DEFAULT_SYNC_OPTIONS.adaptiveBackfill),
  FOCUS_STALE_AFTER: durationSchema.default(DEFAULT_SYNC_OPTIONS.focusStaleAfterMs),
  SYNC_NOW_WAIT: durationSchema.default(20_000),
  WEBHOOK_INBOX_RETENTION: durationSchema.default(14 * 86_400_000),
  /** How often the API asks Strava whether the push subscription still exists (one request per interval). */
  SUBSCRIPTION_CHECK_INTERVAL: durationSchema.default(3_600_000),
  /** Sync runs, backfill plans and token refreshes older than this are deleted (hourly, by the API). */
  SYNC_HISTORY_RETENTION: durationSchema.default(30 * 86_400_000),
  /** A backfill that has not completed this long after it was due counts as late (the completion rate). */
  BACKFILL_LATE_AFTER: durationSchema.default(15 * 60_000),
  /** Changes are kept this long for replay (SSE Last-Event-ID, GET /changes); a client away longer must refetch. */
  CHANGE_LOG_RETENTION: durationSchema.default(7 * 86_400_000),
  RATE_BACKGROUND_SHARE: share.default(DEFAULT_BACKGROUND_SHARE),
  RATE_INTERACTIVE_SHARE: share.default(0.85),
  STRAVA_READ_LIMIT_15MIN: positiveInt.default(100),
  STRAVA_READ_LIMIT_DAILY: positiveInt.default(DEFAULT_READ_LIMIT_DAILY),
  CONTINUE_AS_NEW_AFTER_EVENTS: positiveInt.default(DEFAULT_SYNC_OPTIONS.continueAsNewAfterEvents),
  /**
   * The per-athlete budget of event-triggered Strava fetches (a token bucket: capacity, one more per refill).
   * Events are unsigned, so this caps what forged ones may cost; the load benchmarks raise it to send one athlete
   * more than a day's worth of uploads in minutes.
   */
  EVENT_FETCH_CAPACITY: positiveInt.default(DEFAULT_SYNC_OPTIONS.eventFetchCapacity),
  EVENT_FETCH_REFILL: durationSchema.default(DEFAULT_SYNC_OPTIONS.eventFetchRefillMs),
});

type RawConfig = z.output<typeof configSchema>;
export type Config = RawConfig & {
  /** Short fingerprint of TOKEN_ENCRYPTION_KEY, stored beside ciphertexts so keys can rotate. */
  tokenKeyId: string;
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}

/** Validates an environment; throws ConfigError listing one line per problem, each naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const input: Record<string, string | undefined> = {};
  for (const name of Object.keys(configSchema.shape)) {
    const value = env[name];
    input[name] = value === '' ? undefined : value;
  }
  const production = input.NODE_ENV === 'production';
  const published: string[] = [];
  if (production) {
    for (const name of PUBLISHED_SECRET_NAMES) {
      if (isPublished(name, input[name])) published.push(`${name}: is the published development value; set a secret of your own`);
    }
  } else {
    for (const name of SECRET_NAMES) input[name] ??= DEV_SECRETS[name];
  }
  const parsed = configSchema.safeParse(input);
  if (!parsed.success || published.length) {
    const problems = (parsed.error?.issues ?? []).map((issue) => {
      const name = String(issue.path[0] ?? 'config');
      const message = issue.code === 'invalid_type' && input[name] === undefined ? 'is required' : issue.message;
      return `${name}: ${message}`;
    });
    throw new ConfigError([...published, ...problems]);
  }
  return { ...parsed.data, tokenKeyId: keyId(parsed.data.TOKEN_ENCRYPTION_KEY) };
}

/** For process entry points: a bad configuration prints one line per problem and exits with code 1. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) console.error(`config error: ${problem}`);
      process.exit(1);
    }
    throw error;
  }
}

import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { parseDuration } from '../../src/config/duration.js';

const KEY = Buffer.alloc(32, 7).toString('base64');
/** A complete production environment with secrets of its own. */
const PRODUCTION = {
  NODE_ENV: 'production',
  STRAVA_CLIENT_ID: '42',
  STRAVA_CLIENT_SECRET: 'secret',
  STRAVA_WEBHOOK_VERIFY_TOKEN: 'verify',
  TOKEN_ENCRYPTION_KEY: KEY,
  ADMIN_API_KEY: 'a-long-admin-key',
  OAUTH_STATE_SECRET: 'a-long-oauth-state-secret',
  CLIENT_TOKEN_KEYS: Buffer.alloc(32, 9).toString('base64'),
};

function problemsFor(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('config', () => {
  it('accepts an empty environment with development defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      TEMPORAL_ADDRESS: 'localhost:7233',
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: 'strava-sync',
      STRAVA_API_URL: 'https://www.strava.com/api/v3',
      STRAVA_OAUTH_URL: 'https://www.strava.com/oauth',
      PORT: 3000,
      BACKFILL_INTERVAL: 3 * 3_600_000,
      FOCUS_STALE_AFTER: 3_600_000,
      WEBHOOK_INBOX_RETENTION: 14 * 86_400_000,
      SUBSCRIPTION_CHECK_INTERVAL: 3_600_000,
    });
    expect(config.TOKEN_ENCRYPTION_KEY).toHaveLength(32);
    expect(config.tokenKeyId).toMatch(/^[0-9a-f]{12}$/);
  });

  it('parses durations in s, m, h and d', () => {
    const config = loadConfig({ BACKFILL_INTERVAL: '90s', FOCUS_STALE_AFTER: '15m', BACKFILL_OVERLAP: '1d', WEBHOOK_INBOX_RETENTION: '30d' });
    expect(config.WEBHOOK_INBOX_RETENTION).toBe(30 * 86_400_000);
    expect(config.BACKFILL_INTERVAL).toBe(90_000);
    expect(config.FOCUS_STALE_AFTER).toBe(900_000);
    expect(config.BACKFILL_OVERLAP).toBe(86_400_000);
    expect(parseDuration('3h')).toBe(10_800_000);
  });

  it.each([
    ['DATABASE_URL', 'mysql://localhost/x', 'postgres://'],
    ['TEMPORAL_ADDRESS', 'localhost', 'host:port'],
    ['STRAVA_CLIENT_ID', 'abc', 'numeric'],
    ['STRAVA_API_URL', 'not a url', 'URL'],
    ['STRAVA_OAUTH_URL', 'ftp://x', 'URL'],
    ['PUBLIC_URL', 'localhost:3000', 'URL'],
    ['TOKEN_ENCRYPTION_KEY', Buffer.alloc(16).toString('base64'), '32 bytes'],
    ['TOKEN_ENCRYPTION_KEY', 'not base64!!', '32 bytes'],
    ['TOKEN_DECRYPTION_KEYS', 'abc', '32-byte'],
    ['ADMIN_API_KEY', 'short', '8 characters'],
    ['PORT', '70000', ''],
    ['PORT', 'http', ''],
    ['BACKFILL_INTERVAL', '3 hours', 'duration'],
    ['FOCUS_STALE_AFTER', '-5m', 'duration'],
    ['WEBHOOK_INBOX_RETENTION', 'forever', 'duration'],
    ['SUBSCRIPTION_CHECK_INTERVAL', 'hourly', 'duration'],
    ['RATE_BACKGROUND_SHARE', '1.5', ''],
    ['LOG_LEVEL', 'loud', ''],
    ['STRAVA_WEBHOOK_PATH_TOKEN', 'short', '16'],
  ])('rejects a malformed %s (%s) with a message naming it', (name, value, hint) => {
    const problems = problemsFor({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${name}: `));
    expect(problems[0]).toContain(hint);
    // The message must not echo a secret value back.
    if (name === 'TOKEN_ENCRYPTION_KEY') expect(problems[0]).not.toContain(value);
  });

  it('reports every problem at once, one line per variable', () => {
    const problems = problemsFor({ PORT: 'x', BACKFILL_INTERVAL: 'soon', TEMPORAL_ADDRESS: 'nope' });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['BACKFILL_INTERVAL', 'PORT', 'TEMPORAL_ADDRESS']);
  });

  it('requires the secrets in production', () => {
    const problems = problemsFor({ NODE_ENV: 'production' });
    expect(problems).toEqual(
      expect.arrayContaining([
        'STRAVA_CLIENT_ID: is required',
        'STRAVA_CLIENT_SECRET: is required',
        'TOKEN_ENCRYPTION_KEY: is required',
        'ADMIN_API_KEY: is required',
        'CLIENT_TOKEN_KEYS: is required',
      ]),
    );
    const ok = loadConfig(PRODUCTION);
    expect(ok.STRAVA_CLIENT_ID).toBe('42');
    expect(ok.CLIENT_TOKEN_KEYS).toEqual([Buffer.alloc(32, 9)]);
    expect(ok.CLIENT_TOKEN_MAX_TTL).toBe(86_400_000);
  });

  it('CLIENT_TOKEN_KEYS: comma-separated base64 32-byte keys, the first signs; CLIENT_TOKEN_MAX_TTL at most 7d', () => {
    const [a, b] = [Buffer.alloc(32, 1), Buffer.alloc(32, 2)];
    expect(loadConfig({ ...PRODUCTION, CLIENT_TOKEN_KEYS: `${a.toString('base64')}, ${b.toString('base64')}` }).CLIENT_TOKEN_KEYS).toEqual([a, b]);
    expect(problemsFor({ ...PRODUCTION, CLIENT_TOKEN_KEYS: 'short' })).toEqual([expect.stringMatching(/^CLIENT_TOKEN_KEYS: every entry must be a base64 32-byte key/)]);
    expect(problemsFor({ ...PRODUCTION, CLIENT_TOKEN_KEYS: ',' })).toEqual([expect.stringMatching(/^CLIENT_TOKEN_KEYS: must hold at least one/)]);
    expect(problemsFor({ ...PRODUCTION, CLIENT_TOKEN_MAX_TTL: '8d' })).toEqual(['CLIENT_TOKEN_MAX_TTL: must be at most 7d']);
    expect(loadConfig({ ...PRODUCTION, CLIENT_TOKEN_MAX_TTL: '15m' }).CLIENT_TOKEN_MAX_TTL).toBe(900_000);
  });

  it('BACKFILL_ADAPTIVE and WORKER_MAX_CACHED_WORKFLOWS: true/false only, a positive whole number', () => {
    expect(loadConfig({}).BACKFILL_ADAPTIVE).toBe(true);
    expect(loadConfig({ BACKFILL_ADAPTIVE: 'false' }).BACKFILL_ADAPTIVE).toBe(false);
    expect(problemsFor({ BACKFILL_ADAPTIVE: 'no' })).toEqual(['BACKFILL_ADAPTIVE: must be true or false']);
    expect(loadConfig({}).WORKER_MAX_CACHED_WORKFLOWS).toBeUndefined();
    expect(loadConfig({ WORKER_MAX_CACHED_WORKFLOWS: '5000' }).WORKER_MAX_CACHED_WORKFLOWS).toBe(5000);
    expect(problemsFor({ WORKER_MAX_CACHED_WORKFLOWS: '0' })).toHaveLength(1);
  });

  it('WORKER_BACKGROUND_CONCURRENCY: background activity slots per worker, 4 unless set, a positive whole number', () => {
    expect(loadConfig({}).WORKER_BACKGROUND_CONCURRENCY).toBe(4);
    expect(loadConfig({ WORKER_BACKGROUND_CONCURRENCY: '8' }).WORKER_BACKGROUND_CONCURRENCY).toBe(8);
    expect(problemsFor({ WORKER_BACKGROUND_CONCURRENCY: '0' })).toEqual([expect.stringMatching(/^WORKER_BACKGROUND_CONCURRENCY: /)]);
  });

  it('CLIENT_ORIGINS: comma-separated origins (scheme, host, port), nothing more', () => {
    expect(loadConfig({ CLIENT_ORIGINS: 'https://app.example.com, http://localhost:5173' }).CLIENT_ORIGINS).toEqual(['https://app.example.com', 'http://localhost:5173']);
    expect(loadConfig({}).CLIENT_ORIGINS).toEqual([]);
    for (const bad of ['https://app.example.com/', 'app.example.com', 'https://app.example.com/path', 'ftp://x.example.com']) {
      expect(problemsFor({ CLIENT_ORIGINS: bad }), bad).toEqual([expect.stringMatching(/^CLIENT_ORIGINS: every entry must be an origin/)]);
    }
  });

  describe('refuses the published development secrets in production', () => {
    // The values as published in the README, docs/emulator.md and src/config.ts.
    it.each([
      ['ADMIN_API_KEY', 'dev-admin-key'],
      ['OAUTH_STATE_SECRET', 'dev-oauth-state-secret'],
      ['TOKEN_ENCRYPTION_KEY', Buffer.alloc(32, 'strava-sync-dev-key').toString('base64')],
      ['STRAVA_WEBHOOK_VERIFY_TOKEN', 'dev-verify-token'],
      ['STRAVA_CLIENT_SECRET', 'emulator-client-secret'],
      ['CLIENT_TOKEN_KEYS', Buffer.alloc(32, 'strava-sync-dev-client-token-key').toString('base64')],
      // Kept as a verifying key beside a key of one's own: still the published value.
      ['CLIENT_TOKEN_KEYS', `${Buffer.alloc(32, 3).toString('base64')},${Buffer.alloc(32, 'strava-sync-dev-client-token-key').toString('base64')}`],
    ])('%s set to the development value is a start-up error naming it', (name, value) => {
      const problems = problemsFor({ ...PRODUCTION, [name]: value });
      expect(problems).toEqual([`${name}: is the published development value; set a secret of your own`]);
      // Outside production the same value is the normal development setting.
      expect(() => loadConfig({ ...PRODUCTION, NODE_ENV: 'development', [name]: value })).not.toThrow();
    });

    it('lists every published value at once, with the other problems', () => {
      const problems = problemsFor({ ...PRODUCTION, ADMIN_API_KEY: 'dev-admin-key', STRAVA_CLIENT_SECRET: 'emulator-client-secret', PORT: 'x' });
      expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['ADMIN_API_KEY', 'PORT', 'STRAVA_CLIENT_SECRET']);
    });
  });
});

import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError, loadConfig } from '../../src/config.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { getAthlete } from '../../src/db/repositories/athletes.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { startApi, uniqueAthleteId, type ApiHarness } from '../api/helpers/api-harness.js';
import { testBrowser } from '../api/helpers/browser.js';

/** Issue 10, finding 7 (deployment and OAuth): each test replays what an attacker did against the old code. */
const db = useTestDatabase();

describe('finding 7: production refuses the published development secrets', () => {
  it('ADMIN_API_KEY=dev-admin-key (the README says so) stops a production start', () => {
    const env = {
      NODE_ENV: 'production',
      STRAVA_CLIENT_ID: '42',
      STRAVA_CLIENT_SECRET: 'emulator-client-secret',
      STRAVA_WEBHOOK_VERIFY_TOKEN: 'dev-verify-token',
      TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 'strava-sync-dev-key').toString('base64'),
      ADMIN_API_KEY: 'dev-admin-key',
      OAUTH_STATE_SECRET: 'dev-oauth-state-secret',
      CLIENT_TOKEN_KEYS: Buffer.alloc(32, 'strava-sync-dev-client-token-key').toString('base64'),
    };
    let problems: string[] = [];
    try {
      loadConfig(env);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems = error.problems;
    }
    expect(problems.map((line) => line.split(':')[0]).sort()).toEqual([
      'ADMIN_API_KEY',
      'CLIENT_TOKEN_KEYS',
      'OAUTH_STATE_SECRET',
      'STRAVA_CLIENT_SECRET',
      'STRAVA_WEBHOOK_VERIFY_TOKEN',
      'TOKEN_ENCRYPTION_KEY',
    ]);
    // The message names the variable, never the value.
    for (const line of problems) expect(line).not.toContain(env[line.split(':')[0] as keyof typeof env]);
  });
});

describe('finding 7: docker-compose.yml does not publish Temporal beyond the loopback', () => {
  it('the frontend (7233) and the UI (8233) are bound to 127.0.0.1 or not published', async () => {
    const compose = parse(await readFile(new URL('../../docker-compose.yml', import.meta.url), 'utf8')) as {
      services: Record<string, { ports?: (string | { host_ip?: string; published?: string | number })[] }>;
    };
    const published = ['temporal', 'temporal-ui'].flatMap((name) => (compose.services[name]?.ports ?? []).map((port) => ({ name, port })));
    for (const { name, port } of published) {
      const hostIp = typeof port === 'string' ? (port.split(':').length === 3 ? port.split(':')[0] : undefined) : port.host_ip;
      expect({ name, hostIp }).toEqual({ name, hostIp: '127.0.0.1' });
    }
  });
});

describe('finding 7: the OAuth state is bound to the browser that started the flow', () => {
  let dev: DevServerHandles;
  let emulator: RunningEmulator;
  let api: ApiHarness;
  let secureApi: ApiHarness;

  beforeAll(async () => {
    [dev, emulator] = await Promise.all([connectDevServer(), startEmulator({ seed: 11 })]);
    [api, secureApi] = await Promise.all([
      startApi({ db, dev, emulator }),
      startApi({ db, dev, emulator, env: { PUBLIC_URL: 'https://sync.example.com' } }),
    ]);
  });
  afterAll(async () => {
    await api?.stop();
    await secureApi?.stop();
    await emulator?.close();
    await dev?.close();
  });

  it("login CSRF: the attacker's callback URL, opened in the victim's browser, connects nothing", async () => {
    // The attacker starts a flow and consents with their own Strava account, then stops before the callback.
    const attackerAthlete = uniqueAthleteId();
    await emulator.control.createAthlete({ id: attackerAthlete, activities: 0 });
    const attacker = testBrowser();
    const authorize = new URL((await attacker.fetch(`${api.url}/auth/strava`)).headers.get('location')!);
    authorize.searchParams.set('athlete_id', String(attackerAthlete));
    const callback = (await attacker.fetch(authorize)).headers.get('location')!;
    // The victim opens the link (a browser that never visited /auth/strava, or one in its own flow).
    const victim = testBrowser();
    await victim.fetch(`${api.url}/auth/strava`);
    for (const browser of [testBrowser(), victim]) {
      const response = await browser.fetch(callback);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('invalid_state');
    }
    expect(await getAthlete(db.sql, attackerAthlete)).toBeUndefined();
  });

  it('the cookie is Secure when PUBLIC_URL is https', async () => {
    const cookie = (await secureApi.fetch('/auth/strava')).headers.getSetCookie()[0]!;
    expect(cookie.split(';').map((a) => a.trim())).toEqual(expect.arrayContaining(['Secure', 'HttpOnly', 'SameSite=Lax', 'Path=/auth/strava/callback']));
  });
});

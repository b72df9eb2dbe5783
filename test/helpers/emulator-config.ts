import { loadConfig, type Config } from '../../src/config.js';
import type { RunningEmulator } from '../../src/emulator/index.js';

/** The service's configuration pointed at an emulator and a test database; `env` adds or overrides variables. */
export function emulatorConfig(emulator: RunningEmulator, databaseUrl: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: databaseUrl,
    STRAVA_API_URL: emulator.apiUrl,
    STRAVA_OAUTH_URL: emulator.oauthUrl,
    STRAVA_CLIENT_ID: emulator.clientId,
    STRAVA_CLIENT_SECRET: emulator.clientSecret,
    ...env,
  });
}

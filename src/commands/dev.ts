import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '../config.js';
import { createSql } from '../db/connection.js';
import { ensureDatabase, migrate } from '../db/migrate.js';
import { choosePostgres, describePostgres } from '../dev/choose-postgres.js';
import { Demo } from '../dev/demo.js';
import { startDevServer } from '../dev/temporal-dev-server.js';
import { Supervisor } from '../dev/supervisor.js';
import { EmulatorControl } from '../emulator/control-client.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'bin', 'strava-sync.js');

function portOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--${name} must be a port number, got "${value}"`);
  return port;
}

/** Polls until url answers 2xx (or, with anyStatus, answers at all). */
async function waitForHttp(url: string, timeoutMs: number, anyStatus = false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      if (response.ok || anyStatus) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs / 1000}s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** PostgreSQL's lines worth showing in the dev terminal: the server failing, not its routine LOG lines (nor the
 * "starting up" refusals our own readiness probe causes). */
const postgresAlert = (line: string) => /\b(FATAL|PANIC):/.test(line) && !line.includes('the database system is starting up');

/**
 * `strava-sync dev` / `npm start`: the whole stack on embedded defaults. Uses DATABASE_URL, else the PostgreSQL
 * answering at the default address, else an embedded PostgreSQL (data under .data/postgres); starts the Temporal
 * dev server (UI on 8233, data under .data/), the Strava emulator unless STRAVA_API_URL points elsewhere,
 * migrates, then runs the worker and the API as child processes, and on the emulator the demo (demo athletes
 * whose data keeps changing). Ctrl-C stops every process it started.
 */
export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      'temporal-port': { type: 'string' },
      'ui-port': { type: 'string' },
      'emulator-port': { type: 'string' },
      'data-dir': { type: 'string' },
      'postgres-port': { type: 'string' },
      // Where to look for a running PostgreSQL when DATABASE_URL is unset (the config's default otherwise):
      // lets a test aim it at a port where nothing answers without touching the machine's own server.
      'default-database-url': { type: 'string' },
      'no-demo': { type: 'boolean', default: false },
      'demo-every': { type: 'string' },
    },
  });
  const TEMPORAL_PORT = portOption(values['temporal-port'], 'temporal-port', 7233);
  const TEMPORAL_UI_PORT = portOption(values['ui-port'], 'ui-port', 8233);
  const EMULATOR_PORT = portOption(values['emulator-port'], 'emulator-port', 4500);
  const POSTGRES_PORT = portOption(values['postgres-port'], 'postgres-port', 5488);
  const demoEverySeconds = Number(values['demo-every'] ?? 6);
  if (!(demoEverySeconds >= 0.1)) throw new Error(`--demo-every must be a number of seconds (0.1 or more), got "${values['demo-every']}"`);
  const dataDir = values['data-dir'] ?? join(ROOT, '.data');
  const env: NodeJS.ProcessEnv = { ...process.env };
  const useEmulator = !env.STRAVA_API_URL;
  const emulatorUrl = `http://127.0.0.1:${EMULATOR_PORT}`;
  if (useEmulator) {
    env.STRAVA_API_URL = `${emulatorUrl}/api/v3`;
    env.STRAVA_OAUTH_URL = `${emulatorUrl}/oauth`;
  }
  const ownTemporal = !env.TEMPORAL_ADDRESS;
  if (ownTemporal) {
    env.TEMPORAL_ADDRESS = `127.0.0.1:${TEMPORAL_PORT}`;
    env.TEMPORAL_UI_URL ??= `http://localhost:${TEMPORAL_UI_PORT}`;
  }
  const givenDatabaseUrl = env.DATABASE_URL || undefined;
  // The config's own default address, so the two never disagree.
  const defaultDatabaseUrl = values['default-database-url'] ?? loadConfigOrExit({ ...env, DATABASE_URL: undefined }).DATABASE_URL;
  loadConfigOrExit(env); // every other setting checked before anything starts

  // The supervisor reports only exits it did not cause, so a stop in progress is never reported as a crash.
  const supervisor = new Supervisor((name, code) => {
    console.error(`dev: ${name} exited unexpectedly (code ${code}); stopping the stack`);
    void shutdown(1);
  });
  let demo: { stop(): Promise<void> } | undefined;
  let postgresStarting: Promise<unknown> | undefined;
  async function shutdown(exitCode: number): Promise<void> {
    if (supervisor.isStopping) return;
    console.log('dev: stopping…');
    // The embedded server runs in its own process group (Ctrl-C does not reach it): one still starting must be
    // adopted before stopAll, or it would outlive us.
    await postgresStarting?.catch(() => {});
    await demo?.stop();
    await supervisor.stopAll();
    console.log('dev: stopped');
    process.exit(exitCode);
  }
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  try {
    await mkdir(dataDir, { recursive: true });
    // Started first so it stops last, once the worker and the API have let go of their connections.
    const chosen = choosePostgres({
      givenUrl: givenDatabaseUrl,
      defaultUrl: defaultDatabaseUrl,
      embedded: {
        dataDir: join(dataDir, 'postgres'),
        port: POSTGRES_PORT,
        log: (line) => { if (postgresAlert(line)) console.error(`[postgres] ${line}`); },
      },
    }).then((choice) => {
      if (choice.kind === 'embedded') supervisor.adopt('postgres', choice.server.process, () => choice.server.stop());
      return choice;
    });
    postgresStarting = chosen;
    const postgres = await chosen;
    if (supervisor.isStopping) return; // Ctrl-C while PostgreSQL was starting: shutdown() owns it now
    console.log(`dev: using ${describePostgres(postgres)}`);
    env.DATABASE_URL = postgres.url;
    const config = loadConfigOrExit(env);

    if (ownTemporal) {
      console.log('dev: starting the Temporal dev server…');
      const temporal = await startDevServer({
        port: TEMPORAL_PORT,
        uiPort: TEMPORAL_UI_PORT,
        headless: false,
        dbFilename: join(dataDir, 'temporal.sqlite'),
      });
      supervisor.adopt('temporal', temporal.process);
    }
    if (useEmulator) {
      supervisor.spawn('emulator', process.execPath, [CLI, 'emulator', '--port', String(EMULATOR_PORT), '--seed', '1', '--consent-activities', '250'], env);
      await waitForHttp(`${emulatorUrl}/_emulator/`, 30_000, true);
    }

    await ensureDatabase(config.DATABASE_URL, (url) => createSql(url, { max: 1 }));
    const sql = createSql(config.DATABASE_URL, { max: 1, applicationName: 'strava-sync-dev' });
    const migrated = await migrate(sql).finally(() => sql.end());
    if (migrated.applied.length) console.log(`dev: applied migrations ${migrated.applied.join(', ')}`);

    supervisor.spawn('worker', process.execPath, [CLI, 'worker'], env);
    supervisor.spawn('api', process.execPath, [CLI, 'api'], env);
    const apiUrl = `http://localhost:${config.PORT}`;
    await waitForHttp(`${apiUrl}/readyz`, 60_000);

    if (useEmulator) await ensureDevSubscription(apiUrl, config.ADMIN_API_KEY);
    // Through PUBLIC_URL, as a browser would: the OAuth callback comes back there, with the cookies set there.
    const demoLine = useEmulator && !values['no-demo'] ? await startDemo(emulatorUrl, config.PUBLIC_URL, demoEverySeconds * 1000) : undefined;
    if (demoLine) demo = demoLine.running;

    console.log(
      [
        '',
        'strava-sync is running:',
        `  API              ${apiUrl}  (ready: ${apiUrl}/readyz, metrics: ${apiUrl}/metrics)`,
        `  Management page  ${apiUrl}/admin  (admin key: ${config.NODE_ENV === 'production' ? '<ADMIN_API_KEY>' : config.ADMIN_API_KEY})`,
        `  Connect athlete  ${apiUrl}/auth/strava`,
        ownTemporal ? `  Temporal UI      http://localhost:${TEMPORAL_UI_PORT}` : `  Temporal         ${config.TEMPORAL_ADDRESS}`,
        useEmulator ? `  Strava emulator  ${emulatorUrl}  (control API: ${emulatorUrl}/_emulator)` : `  Strava API       ${config.STRAVA_API_URL}`,
        `  PostgreSQL       ${describePostgres(postgres)}`,
        ...(demoLine ? [`  Demo             ${demoLine.summary}`] : []),
        '',
        'Press Ctrl-C to stop everything.',
      ].join('\n'),
    );
  } catch (error) {
    console.error(`dev: ${error instanceof Error ? error.message : String(error)}`);
    await shutdown(1);
  }
}

/**
 * Connects the demo athletes and starts changing their data. A demo that cannot start is reported and skipped:
 * the stack itself is up and usable.
 */
async function startDemo(emulatorUrl: string, apiUrl: string, intervalMs: number): Promise<{ running: { stop(): Promise<void> }; summary: string } | undefined> {
  const emulator = new EmulatorControl(emulatorUrl);
  try {
    // Strava grants established apps higher limits than a new one's 100 reads per 15 minutes; the demo's app has
    // them, so its steady changes never meet the read budget and the page shows sync, not rate limiting.
    await emulator.setRateLimits({ overall: { fifteenMinute: 600, daily: 6_000 }, read: { fifteenMinute: 300, daily: 3_000 } });
    const demo = new Demo({ emulator, apiUrl });
    const athletes = await demo.connectAthletes();
    console.log(`dev: demo connected ${athletes.map(({ id, name }) => `${name} (${id})`).join(', ')} through ${apiUrl}/auth/strava`);
    const running = demo.run(intervalMs, (line) => console.log(`[demo] ${line}`));
    return { running, summary: `${athletes.length} athletes, a change every ${intervalMs / 1000} s (--no-demo turns it off)` };
  } catch (error) {
    console.warn(`dev: the demo could not start: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

/** Points the emulator's webhook subscription at this API so emulator events flow like Strava's. */
async function ensureDevSubscription(apiUrl: string, adminKey: string): Promise<void> {
  try {
    const response = await fetch(`${apiUrl}/admin/subscription?replace=true`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}` },
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) console.warn(`dev: could not create the webhook subscription (HTTP ${response.status})`);
  } catch (error) {
    console.warn(`dev: could not create the webhook subscription: ${String(error)}`);
  }
}

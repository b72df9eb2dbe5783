/**
 * The service as it runs in production, for the load benchmarks (freshness, fleet): the API (`strava-sync api`)
 * and workers as separate OS processes (the chaos test's harness, test/chaos/processes.ts), the Temporal dev
 * server (its SQLite file or the in-memory store), a scratch database on the real PostgreSQL, and the emulator
 * over HTTP with large-app rate limits. Athletes connect through the API's real OAuth flow.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sql } from '../../src/db/connection.js';
import { connectThroughOAuth } from '../../src/dev/oauth-connect.js';
import { freePort } from '../../src/dev/temporal-dev-server.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { ServiceProcesses } from '../../test/chaos/processes.js';
import type { ProcessGroup } from './process-cpu.js';
import { createScratchDatabase, type ScratchDatabase } from './scratch-database.js';

export const ADMIN_KEY = 'bench-admin-key-0123456789';

export interface StackOptions {
  /** Logs (processes.log), Temporal's SQLite file, CPU profiles. */
  dir: string;
  /** A PostgreSQL server URL (its `postgres` database); a scratch database is created and dropped. */
  databaseServerUrl: string;
  workflowBundlePath: string;
  /** 'sqlite': the dev server's single-file store (persisted, as `npm start` runs it); 'memory': nothing persisted. */
  temporalStore: 'sqlite' | 'memory';
  /** Generated in the emulator at start-up (its bulk creation). */
  athletes: number;
  activitiesPerAthlete: number;
  workers?: number;
  /** Strava read limits, in the emulator and told to the service (a large app's, so the limit is not what is measured). */
  readLimit?: { fifteenMinute: number; daily: number };
  /** Extra environment for the API and workers. */
  env?: Record<string, string>;
  /** Writes V8 CPU profiles of the API and worker processes into this directory (written when they exit). */
  cpuProfileDir?: string;
  seed?: number;
}

export interface Stack {
  emulator: RunningEmulator;
  sql: Sql;
  processes: ServiceProcesses;
  env: Record<string, string>;
  apiUrl: string;
  /** Ids of the generated athletes, ascending. */
  athleteIds: number[];
  /** A request to the API with the admin key. */
  admin(path: string, init?: RequestInit): Promise<Response>;
  /** Connects athletes through OAuth, `concurrency` at a time; returns the wall time taken (ms). */
  connect(ids: number[], concurrency: number, onProgress?: (done: number) => void): Promise<number>;
  /** Process groups for bench/lib/process-cpu.ts: api, worker(s), temporal, postgres, this process (emulator, clients). */
  cpuGroups(): Record<string, ProcessGroup>;
  /** Resident set size (MiB) of the API, each worker and the dev server. */
  rss(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

export async function rssMib(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return kb / 1024;
  } catch {
    return 0;
  }
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const readLimit = options.readLimit ?? { fifteenMinute: 60_000, daily: 600_000 };
  const emulator = await startEmulator({
    seed: options.seed ?? 15,
    athletes: options.athletes,
    activitiesPerAthlete: options.activitiesPerAthlete,
    historyYears: 0.1,
    rateLimits: { read: readLimit, overall: { fifteenMinute: 2 * readLimit.fifteenMinute, daily: 2 * readLimit.daily } },
    // A refused delivery is tried again soon (Strava: 1-2 minutes), so a retry shows in the tail, not as a loss.
    webhookRetryDelayMs: 2_000,
    webhookLogLimit: 1_000_000,
  });
  let db: ScratchDatabase | undefined;
  let processes: ServiceProcesses | undefined;
  try {
    db = await createScratchDatabase(options.databaseServerUrl, 'bench');
    const temporalPort = await freePort();
    const apiPort = await freePort();
    const env: Record<string, string> = {
      // Not 'production': that refuses the emulator's published client secret; nothing else depends on it.
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      DATABASE_URL: db.url,
      DATABASE_POOL_SIZE: '10',
      TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
      TEMPORAL_TASK_QUEUE: 'strava-sync-bench',
      STRAVA_API_URL: emulator.apiUrl,
      STRAVA_OAUTH_URL: emulator.oauthUrl,
      STRAVA_CLIENT_ID: emulator.clientId,
      STRAVA_CLIENT_SECRET: emulator.clientSecret,
      STRAVA_WEBHOOK_VERIFY_TOKEN: 'bench-verify-token',
      TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 'bench-token-key').toString('base64'),
      CLIENT_TOKEN_KEYS: Buffer.alloc(32, 'bench-client-token-key').toString('base64'),
      PORT: String(apiPort),
      PUBLIC_URL: `http://127.0.0.1:${apiPort}`,
      ADMIN_API_KEY: ADMIN_KEY,
      OAUTH_STATE_SECRET: 'bench-oauth-state-secret-0123456789',
      STRAVA_READ_LIMIT_15MIN: String(readLimit.fifteenMinute),
      STRAVA_READ_LIMIT_DAILY: String(readLimit.daily),
      WORKFLOW_BUNDLE_PATH: options.workflowBundlePath,
      WORKER_METRICS_PORT: String(await freePort()),
      ...(options.cpuProfileDir ? { CPU_PROFILE_DIR: options.cpuProfileDir } : {}),
      ...options.env,
    };
    const services = new ServiceProcesses(options.dir, env, {
      port: temporalPort,
      ...(options.temporalStore === 'sqlite' ? { dbFilename: join(options.dir, 'temporal.sqlite') } : {}),
    });
    processes = services;
    await Promise.all([
      services.startApi(),
      services.startTemporal().then(async () => {
        for (let i = 0; i < (options.workers ?? 1); i++) await services.startWorker();
      }),
    ]);
    const apiUrl = env.PUBLIC_URL!;
    const admin = (path: string, init: RequestInit = {}) =>
      fetch(`${apiUrl}${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_KEY}`, ...init.headers }, signal: AbortSignal.timeout(60_000) });
    const subscribed = await admin('/admin/subscription', { method: 'POST' });
    if (subscribed.status !== 201) throw new Error(`subscription: ${subscribed.status} ${await subscribed.text()}`);
    const athleteIds = (await emulator.control.listAthletes()).map((a) => a.id).sort((a, b) => a - b);
    const database = db;
    return {
      emulator,
      sql: db.sql,
      processes: services,
      env,
      apiUrl,
      athleteIds,
      admin,
      async connect(ids, concurrency, onProgress) {
        const started = performance.now();
        let next = 0;
        let done = 0;
        const lane = async () => {
          for (let i = next++; i < ids.length; i = next++) {
            // Each athlete's browser has its own address (the API trusts X-Forwarded-For from loopback, its proxy),
            // so the per-address OAuth rate limit applies per athlete, as in production.
            const id = ids[i]!;
            const headers = { 'x-forwarded-for': `10.${(id >> 16) & 255}.${(id >> 8) & 255}.${id & 255}` };
            // A loaded API may answer a connect slowly: one retry keeps a slow answer from failing the run.
            await connectThroughOAuth(apiUrl, id, { headers }).catch(() => connectThroughOAuth(apiUrl, id, { headers }));
            onProgress?.(++done);
          }
        };
        await Promise.all(Array.from({ length: concurrency }, lane));
        return performance.now() - started;
      },
      cpuGroups() {
        return {
          api: { pids: () => [services.api?.child.pid] },
          worker: { pids: () => services.workers.map((w) => w.child.pid) },
          temporal: { pids: () => [services.temporal?.process.pid] },
          // The backends serving the scratch database (other databases on this server belong to other work).
          postgres: { pids: async () => (await database.sql<{ pid: number }[]>`select pid from pg_stat_activity where datname = current_database()`).map((row) => row.pid) },
          'bench (emulator, clients)': { pids: () => [process.pid] },
        };
      },
      async rss() {
        const out: Record<string, number> = { api: await rssMib(services.api?.child.pid), temporal: await rssMib(services.temporal?.process.pid) };
        for (const [i, worker] of services.workers.entries()) out[`worker${services.workers.length > 1 ? ` ${i + 1}` : ''}`] = await rssMib(worker.child.pid);
        return out;
      },
      async stop() {
        await services.stopAll().catch(() => {});
        await emulator.close().catch(() => {});
        await database.drop().catch(() => {});
      },
    };
  } catch (error) {
    await processes?.stopAll().catch(() => {});
    await emulator.close().catch(() => {});
    await db?.drop().catch(() => {});
    throw error;
  }
}

/** Polls until check() holds; throws after timeoutMs. */
export async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean>, intervalMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Waits until the database holds `expected` activities (the connected athletes' imports are done). */
export async function waitForImports(sql: Sql, expected: number, timeoutMs: number): Promise<void> {
  await waitUntil(`${expected} imported activities`, timeoutMs, async () => {
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from activities`;
    return row!.n >= expected;
  }, 500);
}

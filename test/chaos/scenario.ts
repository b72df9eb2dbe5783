/**
 * The chaos convergence scenario, shared by the CI-sized test (test/chaos/convergence.test.ts) and the full-size
 * benchmark (bench/chaos/run.ts). Real parts as separate processes (Temporal dev server on a SQLite file, API,
 * workers), PostgreSQL behind a TCP proxy, the emulator over HTTP with its faults on, and a seeded storm of
 * changes while the processes are killed and restarted. Then backfill repairs what webhooks missed, and the
 * report says whether the database equals Strava's ground truth. It asserts nothing itself: callers do.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { connectThroughOAuth } from '../../src/dev/oauth-connect.js';
import { freePort } from '../../src/dev/temporal-dev-server.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import type { GroundTruthSnapshot } from '../../src/emulator/snapshot.js';
import type { StormProgress } from '../../src/emulator/storm.js';
import { athleteWorkflowId } from '../../src/temporal/athlete-gateway.js';
import type { AthleteStatus } from '../../src/workflows/athlete-state.js';
import { statusQuery } from '../../src/workflows/messages.js';
import { createScratchDatabase, type ScratchDatabase } from '../../bench/lib/scratch-database.js';
import { proxiedUrl, startDatabaseProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { ServiceProcesses } from './processes.js';
import { ackedEvents, divergences, eventIdentity, inboxRows, storedRows, summarize, type Divergence } from './truth.js';

export interface ChaosSize {
  athletes: number;
  activitiesPerAthlete: number;
  changes: number;
  /** The storm is spread over this long. */
  stormMs: number;
  /** Athletes who untick "private activities" at consent (read,activity:read). */
  readOnlyAthletes: number;
  /** How long PostgreSQL is unreachable (once). */
  postgresOutageMs: number;
  /** Length of the forced 429 period (once). */
  force429Ms: number;
  /** BACKFILL_INTERVAL of the service. */
  backfillInterval: string;
  /** Access tokens live this long, so each athlete refreshes (and rotates its refresh token) during the storm. */
  accessTokenTtlS: number;
  /** Give up waiting for convergence after this long once the storm is over. */
  convergeTimeoutMs: number;
  /**
   * About how long the processes take to start and the athletes to connect and import: the clocks are shifted
   * so that a 15-minute rate window ends right after the forced 429 period, planned from this estimate.
   */
  expectedSetupMs: number;
}

/** The CI size: well under two minutes on a loaded two-core machine. PostgreSQL is cut for 5 s, not 20 s. */
export const CI_SIZE: ChaosSize = {
  athletes: 20,
  activitiesPerAthlete: 20,
  changes: 250,
  stormMs: 30_000,
  readOnlyAthletes: 3,
  postgresOutageMs: 5_000,
  force429Ms: 12_000,
  backfillInterval: '5s',
  accessTokenTtlS: 20,
  convergeTimeoutMs: 60_000,
  expectedSetupMs: 40_000,
};

/** The size issue 16 names: 20 athletes, 2,000 activities, 1,000 changes, PostgreSQL away for 20 s. */
export const FULL_SIZE: ChaosSize = {
  athletes: 20,
  activitiesPerAthlete: 100,
  changes: 1000,
  stormMs: 180_000,
  readOnlyAthletes: 3,
  postgresOutageMs: 20_000,
  force429Ms: 20_000,
  backfillInterval: '30s',
  accessTokenTtlS: 40,
  convergeTimeoutMs: 240_000,
  expectedSetupMs: 45_000,
};

export interface ChaosOptions {
  size: ChaosSize;
  seed: number;
  /** A PostgreSQL server URL (its `postgres` database); the scenario creates and drops its own database. */
  databaseServerUrl: string;
  /** A prebuilt workflow bundle (the worker processes load it instead of bundling at start-up). */
  workflowBundlePath: string;
  log?: (line: string) => void;
  /** Keep the temp directory (logs, Temporal's SQLite file) for inspection. */
  keepDir?: boolean;
}

export interface WorkflowCheck {
  athleteId: number;
  expected: 'running' | 'completed';
  status: string;
  state?: string;
  pendingEvents?: number;
  ok: boolean;
}

export interface ChaosReport {
  seed: number;
  size: ChaosSize;
  dir: string;
  storm: StormProgress;
  timeline: { at: number; what: string }[];
  /** When the forced 429 period ran, ms from the storm's start (null: none). */
  force429: { startMs: number; endMs: number; lengthMs: number } | null;
  /** How far the service's and the emulator's clocks were set back (so a window boundary ends the 429 period). */
  clockShiftMs: number;
  /** The special athletes. */
  revokedAthlete: number;
  reconnectedAthlete: number;
  readOnlyAthleteIds: number[];
  webhooks: { events: number; delivered: number; failed: number; dropped: number; duplicated: number; acked: number; attempts: number };
  /** Acknowledged (200) events found neither in the inbox (forwarded, or ignored for a disconnected athlete) nor as a signal in a history. */
  ackedLost: string[];
  /** Acknowledged events that reached a workflow as a direct signal while PostgreSQL was down. */
  ackedDirect: number;
  serverErrors: number;
  requests: number;
  rateLimited: { total: number; forced: number; outsideForced: number };
  /** Differences once the storm's webhooks settled, before waiting for backfill. */
  divergenceAtStormEnd: Record<string, number>;
  /** Differences when the scenario stopped waiting (empty when it converged). */
  divergenceFinal: Divergence[];
  /** Repairs the running workflows counted (backfills and burst lists that found missed changes). */
  repairs: number;
  converged: boolean;
  convergeMs: number;
  totalMs: number;
  revokedPurged: { activities: number; tokens: number; tombstones: number; state: string | null; workflow: string };
  tokensOfRevoked: number;
  /** Refresh-token rotations per connected athlete (emulator's count). */
  rotations: Record<number, number>;
  workflows: WorkflowCheck[];
  replay: { histories: number; failures: string[] };
  /**
   * Workflow runs found per athlete (continue-as-new chains; the reconnected athlete has a second run when its
   * disconnect was carried out before the reconnect, one run when the reconnect cancelled it).
   */
  runsPerAthlete: Record<number, number>;
}

/** The checks the CI test asserts, as lines of text (empty: all hold). */
export function failedChecks(report: ChaosReport): string[] {
  const failures: string[] = [];
  const check = (ok: boolean, what: string) => ok || failures.push(what);
  check(report.storm.applied === report.size.changes, `storm applied ${report.storm.applied} of ${report.size.changes} changes`);
  check(report.converged && report.divergenceFinal.length === 0, `not converged: ${JSON.stringify(report.divergenceFinal.slice(0, 10))}`);
  check(report.ackedLost.length === 0, `acknowledged events lost: ${report.ackedLost.slice(0, 10).join(', ')}`);
  check(report.force429 !== null && report.rateLimited.forced > 0, 'no 429 served in the forced period');
  check(report.rateLimited.outsideForced === 0, `${report.rateLimited.outsideForced} 429s outside the forced period`);
  check(
    report.revokedPurged.activities === 0 && report.revokedPurged.tokens === 0 && report.revokedPurged.tombstones === 0 && report.revokedPurged.state === 'revoked',
    `revoked athlete not purged: ${JSON.stringify(report.revokedPurged)}`,
  );
  check(report.workflows.every((w) => w.ok), `workflows not in the expected state: ${JSON.stringify(report.workflows.filter((w) => !w.ok))}`);
  check(report.replay.failures.length === 0, `replay failures: ${report.replay.failures.join('; ')}`);
  check(Object.values(report.rotations).every((n) => n >= 1), `athletes without a refresh-token rotation: ${JSON.stringify(report.rotations)}`);
  return failures;
}

const ADMIN_KEY = 'chaos-admin-key-0123456789';
const WINDOW_MS = 15 * 60_000;
/** Where in the storm the forced 429 period starts (a worker polls then: the first replacement is up, the second kill comes later). */
const FORCE_429_AT = 0.4;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean>, intervalMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms${lastError ? `: ${String(lastError)}` : ''}`);
    await sleep(intervalMs);
  }
}

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

/** Signals `stravaEvent` found in histories: identities of what reached the workflows. */
function signalledEvents(events: History['events']): string[] {
  const out: string[] = [];
  for (const event of events ?? []) {
    const attrs = event.workflowExecutionSignaledEventAttributes;
    if (attrs?.signalName !== 'stravaEvent') continue;
    const data = attrs.input?.payloads?.[0]?.data;
    if (!data) continue;
    const signal = JSON.parse(Buffer.from(data).toString('utf8')) as { objectType: string; objectId: number; aspectType: string; eventTime: number; ownerId: number };
    out.push(eventIdentity(signal));
  }
  return out;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const { size, seed } = options;
  const log = options.log ?? (() => {});
  const started = Date.now();
  const timeline: { at: number; what: string }[] = [];
  let processes: ServiceProcesses | undefined;
  const mark = (what: string) => {
    timeline.push({ at: Date.now() - started, what });
    log(`[chaos +${((Date.now() - started) / 1000).toFixed(1)}s] ${what}`);
    processes?.note(what);
  };

  // The forced 429 period must end just before a 15-minute window boundary: a 429 makes the service wait for the
  // next window, as Strava asks. The service processes and the emulator run on a clock shifted back by up to 15
  // minutes (clock-offset.ts) so that a boundary falls where the plan puts the end of that period.
  const plannedBoundary = started + size.expectedSetupMs + FORCE_429_AT * size.stormMs + size.force429Ms;
  const clockShiftMs = size.force429Ms > 0 ? plannedBoundary % WINDOW_MS : 0;

  const dir = await mkdtemp(join(tmpdir(), 'strava-sync-chaos-'));
  let emulator: RunningEmulator | undefined;
  let proxy: TcpProxy | undefined;
  let db: ScratchDatabase | undefined;
  let connection: Connection | undefined;
  // The directory (process logs, Temporal's SQLite file) stays when something went wrong.
  let keepDir = options.keepDir ?? false;
  try {
    const readLimit = { fifteenMinute: 3_000, daily: 400_000 };
    emulator = await startEmulator({
      seed,
      athletes: size.athletes,
      activitiesPerAthlete: size.activitiesPerAthlete,
      // A quarter of a year of history, which the backfill overlap below covers entirely: a missed change to any
      // activity is within reach of a backfill (a 7-day overlap would leave old activities unrepaired for ever).
      historyYears: 0.25,
      rateLimits: { read: readLimit, overall: { fifteenMinute: 6_000, daily: 800_000 } },
      webhookRetryDelayMs: 2_000,
      webhookLogLimit: 100_000,
      accessTokenTtlS: size.accessTokenTtlS,
      startTimeMs: Date.now() - clockShiftMs,
    });
    db = await createScratchDatabase(options.databaseServerUrl, 'chaos');
    proxy = await startDatabaseProxy(db.url);
    const temporalPort = await freePort();
    const apiPort = await freePort();
    const env: Record<string, string> = {
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      DATABASE_URL: proxiedUrl(db.url, proxy),
      DATABASE_POOL_SIZE: '8',
      TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
      TEMPORAL_TASK_QUEUE: 'strava-sync-chaos',
      STRAVA_API_URL: emulator.apiUrl,
      STRAVA_OAUTH_URL: emulator.oauthUrl,
      STRAVA_CLIENT_ID: emulator.clientId,
      STRAVA_CLIENT_SECRET: emulator.clientSecret,
      PORT: String(apiPort),
      PUBLIC_URL: `http://127.0.0.1:${apiPort}`,
      ADMIN_API_KEY: ADMIN_KEY,
      OAUTH_STATE_SECRET: 'chaos-oauth-state-secret-0123456789',
      BACKFILL_INTERVAL: size.backfillInterval,
      BACKFILL_OVERLAP: '120d',
      TOKEN_REFRESH_MARGIN: '10s',
      STRAVA_READ_LIMIT_15MIN: String(readLimit.fifteenMinute),
      STRAVA_READ_LIMIT_DAILY: String(readLimit.daily),
      STRAVA_REQUEST_TIMEOUT: '10s',
      WORKFLOW_BUNDLE_PATH: options.workflowBundlePath,
      WORKER_METRICS_PORT: String(await freePort()),
      CHAOS_CLOCK_OFFSET_MS: String(-clockShiftMs),
    };
    processes = new ServiceProcesses(dir, env, {
      port: temporalPort,
      dbFilename: join(dir, 'temporal.sqlite'),
      dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 400 },
    });
    const services = processes;
    // The API needs Temporal only per request: it starts alongside it; the worker connects once Temporal answers.
    // Two workers, as docker-compose.yml runs them: a SIGKILLed one leaves its in-flight work to the other.
    await Promise.all([services.startApi(), services.startTemporal().then(() => Promise.all([services.startWorker(), services.startWorker()]))]);
    mark(`temporal, api and two workers up (service and emulator clocks ${Math.round(clockShiftMs / 1000)} s behind)`);
    connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS! });
    const client = new Client({ connection });
    const control = emulator.control;
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${env.PUBLIC_URL}${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_KEY}`, ...init.headers }, signal: AbortSignal.timeout(30_000) });

    const subscribed = await api('/admin/subscription', { method: 'POST' });
    if (subscribed.status !== 201) throw new Error(`subscription: ${subscribed.status} ${await subscribed.text()}`);

    const athleteIds = (await control.listAthletes()).map((a) => a.id).sort((a, b) => a - b);
    const [revokedAthlete, reconnectedAthlete] = athleteIds as [number, number];
    const readOnlyAthleteIds = athleteIds.slice(2, 2 + size.readOnlyAthletes);
    for (const id of readOnlyAthleteIds) await control.setConsent(id, 'read,activity:read');
    for (let i = 0; i < athleteIds.length; i += 4) {
      await Promise.all(athleteIds.slice(i, i + 4).map((id) => connectThroughOAuth(env.PUBLIC_URL!, id)));
    }
    mark(`${athleteIds.length} athletes connected through OAuth (${readOnlyAthleteIds.length} without private activities)`);
    const snapshotNow = () => control.snapshot();
    await waitUntil('the initial import', 90_000, async () => divergences(await snapshotNow(), await storedRows(db!.sql)).length === 0, 500);
    mark('initial import converged');

    // The storm, with the emulator as awkward as Strava on a bad day.
    await control.setFaults({
      webhookDropRate: 0.1,
      webhookDuplicateRate: 0.1,
      webhookDuplicateDelayMs: 1_500,
      webhookReorderRate: 0.1,
      webhookReorderDelayMs: 3_000,
      apiErrorRate: 0.05,
      apiErrorStatus: 503,
    });
    // The setup was quicker than planned: wait, so that the 429 period still falls in the middle of the storm.
    const early = plannedBoundary - size.force429Ms - FORCE_429_AT * size.stormMs - Date.now();
    if (size.force429Ms > 0 && early > 0) {
      mark(`waiting ${(early / 1000).toFixed(1)} s so that the forced 429 period falls in the storm`);
      await sleep(early);
    }
    const stormStart = Date.now();
    await control.startStorm({ seed, changes: size.changes, durationMs: size.stormMs, processingRate: 0.2, processingMs: [2_000, 10_000] });
    mark(`storm started: ${size.changes} changes over ${size.stormMs / 1000} s`);

    // Each fault on its own schedule, in the background: a slow restart does not delay the next fault.
    const at = (fraction: number) => sleep(Math.max(0, stormStart + fraction * size.stormMs - Date.now()));
    const proxyOf = proxy;
    const killAndReplaceWorker = async (which: string) => {
      if (!(await services.killWorker())) throw new Error(`no polling worker to kill (${which})`);
      mark(`worker SIGKILLed (${which}); a new one starts`);
      await services.startWorker();
      mark('new worker polling');
    };
    const firstKill = at(0.05).then(() => killAndReplaceWorker('1/2'));
    const faults: Promise<unknown>[] = [
      firstKill,
      at(0.15).then(async () => {
        const response = await api(`/athletes/${reconnectedAthlete}`, { method: 'DELETE' });
        mark(`athlete ${reconnectedAthlete} disconnects through the API: ${response.status}`);
      }),
      at(0.2).then(async () => {
        mark('temporal dev server stopping');
        await services.restartTemporal(1_000);
        mark('temporal dev server restarted on its SQLite file');
      }),
      at(0.3).then(async () => {
        await control.revokeAthlete(revokedAthlete);
        mark(`athlete ${revokedAthlete} revokes the app at Strava`);
      }),
      at(0.35).then(async () => {
        mark('api restarting');
        await services.restartApi();
        mark('api restarted');
      }),
      // After the forced 429 period: a worker that cannot read its tokens makes no Strava call to be refused.
      at(0.8).then(async () => {
        await proxyOf.stop();
        mark(`postgresql unreachable for ${size.postgresOutageMs / 1000} s`);
        await sleep(size.postgresOutageMs);
        await proxyOf.start();
        mark('postgresql reachable again');
      }),
      at(0.6).then(async () => {
        // The athlete comes back whenever the API answers again.
        await waitUntil('the reconnect', 60_000, async () => (await connectThroughOAuth(env.PUBLIC_URL!, reconnectedAthlete), true), 1_000);
        mark(`athlete ${reconnectedAthlete} reconnected through OAuth`);
      }),
      // The second kill waits for the first replacement to poll, so two workers run when it comes.
      Promise.all([firstKill, at(0.9)]).then(() => killAndReplaceWorker('2/2')),
    ];
    let force429: ChaosReport['force429'] = null;
    if (size.force429Ms > 0) {
      // Until a second before the boundary (on the shifted clocks): a 429 answered in one window must not be
      // taken for the next.
      const boundaryOnEmulator = plannedBoundary - clockShiftMs;
      faults.push(
        sleep(Math.max(0, plannedBoundary - size.force429Ms - Date.now())).then(async () => {
          const fromMs = await control.now();
          await control.setFaults({ rateLimitedUntil: boundaryOnEmulator - 1_000 });
          force429 = { startMs: Date.now() - stormStart, endMs: plannedBoundary - 1_000 - stormStart, lengthMs: boundaryOnEmulator - 1_000 - fromMs };
          mark(`forced 429 period until ${Math.round((boundaryOnEmulator - 1_000 - fromMs) / 100) / 10} s before a window boundary ends it`);
        }),
      );
    }

    for (const fault of faults) fault.catch(() => {});
    await waitUntil('the storm to finish', size.stormMs + 30_000, async () => !(await control.stormProgress()).running, 500);
    const storm = await control.stormProgress();
    mark(`storm finished: ${storm.applied} changes`);
    const stormEndSnapshot = await snapshotNow();
    const divergenceAtStormEnd = summarize(divergences(stormEndSnapshot, await storedRows(db.sql)));
    mark(`divergence when the last change was made: ${JSON.stringify(divergenceAtStormEnd)}`);
    // Rejections are collected as they happen (no unhandled rejection while the storm goes on) and raised here.
    const failures: unknown[] = [];
    await Promise.all(faults.map((fault) => fault.catch((error: unknown) => failures.push(error))));
    if (failures.length > 0) throw failures[0];
    await control.webhooksSettled(60_000);
    mark('every fault done, webhook deliveries settled');

    // Workflows: every connected athlete's running and idle with nothing queued; the revoked one completed.
    const checkWorkflows = async (snapshot: GroundTruthSnapshot): Promise<{ workflows: WorkflowCheck[]; repairs: number }> => {
      const workflows: WorkflowCheck[] = [];
      let repairs = 0;
      for (const athlete of snapshot.athletes) {
        const handle = client.workflow.getHandle(athleteWorkflowId(athlete.id));
        const description = await handle.describe();
        if (athlete.id === revokedAthlete) {
          workflows.push({ athleteId: athlete.id, expected: 'completed', status: description.status.name, ok: description.status.name === 'COMPLETED' });
          continue;
        }
        let status: AthleteStatus | undefined;
        if (description.status.name === 'RUNNING') {
          status = await handle.query(statusQuery);
          repairs += status.counters.repairs;
        }
        workflows.push({
          athleteId: athlete.id,
          expected: 'running',
          status: description.status.name,
          ...(status ? { state: status.state, pendingEvents: status.pendingEvents } : {}),
          ok: description.status.name === 'RUNNING' && status?.state === 'idle' && status.pendingEvents === 0,
        });
      }
      return { workflows, repairs };
    };

    // Quiet: faults stay on, backfill repairs what the webhooks missed, until the database equals the ground truth
    // and every workflow has settled in its expected state.
    const convergeStart = Date.now();
    let converged = false;
    let divergenceFinal: Divergence[] = [];
    let settled: Awaited<ReturnType<typeof checkWorkflows>> = { workflows: [], repairs: 0 };
    const deadline = convergeStart + size.convergeTimeoutMs;
    let lastReport = 0;
    for (;;) {
      const snapshot = await snapshotNow();
      divergenceFinal = divergences(snapshot, await storedRows(db.sql));
      const dataConverged = divergenceFinal.length === 0 && snapshot.athletes.every((a) => a.processing === 0);
      if (dataConverged || Date.now() > deadline) settled = await checkWorkflows(snapshot);
      if (dataConverged && settled.workflows.every((w) => w.ok)) {
        converged = true;
        break;
      }
      if (Date.now() > deadline) break;
      if (Date.now() - lastReport > 5_000) {
        lastReport = Date.now();
        const unsettled = settled.workflows.filter((w) => !w.ok).length;
        mark(`waiting for convergence: ${JSON.stringify(summarize(divergenceFinal))}, still processing ${snapshot.athletes.reduce((n, a) => n + a.processing, 0)}${dataConverged ? `, ${unsettled} workflows not settled` : ''}`);
      }
      await sleep(500);
    }
    const convergeMs = Date.now() - convergeStart;
    if (!converged) keepDir = true;
    mark(converged ? `converged ${(convergeMs / 1000).toFixed(1)} s after the faults` : `not converged: ${JSON.stringify(divergenceFinal.slice(0, 20))}`);
    await control.setFaults({ webhookDropRate: 0, webhookDuplicateRate: 0, webhookReorderRate: 0, apiErrorRate: 0 });
    const finalSnapshot: GroundTruthSnapshot = await snapshotNow();
    const { workflows, repairs } = settled;

    const [purged] = await db.sql<{ activities: number; tokens: number; tombstones: number; state: string | null }[]>`
      select (select count(*)::int from activities where athlete_id = ${revokedAthlete}) as activities,
             (select count(*)::int from tokens where athlete_id = ${revokedAthlete}) as tokens,
             (select count(*)::int from activity_tombstones where athlete_id = ${revokedAthlete}) as tombstones,
             (select state from athletes where id = ${revokedAthlete}) as state`;

    // Histories of every run (continue-as-new chains, the reconnected athlete's second run if it has one): replay them.
    mark('workflows checked; fetching histories');
    const histories: { workflowId: string; history: History }[] = [];
    const signalled = new Set<string>();
    const runsPerAthlete: Record<number, number> = {};
    for (const athlete of finalSnapshot.athletes) {
      const workflowId = athleteWorkflowId(athlete.id);
      const runIds = new Set<string>([(await client.workflow.getHandle(workflowId).describe()).runId]);
      for await (const run of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runIds.add(run.runId);
      runsPerAthlete[athlete.id] = runIds.size;
      for (const runId of runIds) {
        const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
        histories.push({ workflowId: `${workflowId}/${runId}`, history });
        for (const id of signalledEvents(history.events)) signalled.add(id);
      }
    }
    mark(`fetched ${histories.length} histories; replaying`);
    const bundle = { code: await readFile(options.workflowBundlePath, 'utf8') };
    const replayFailures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
      if (result.error) replayFailures.push(`${result.workflowId}: ${result.error.message}`);
    }
    mark(`replayed ${histories.length} histories, ${replayFailures.length} failures`);

    // Every event the API answered 200 reached the inbox (forwarded; or ignored because its athlete was not
    // connected) or, while PostgreSQL was away, a workflow directly.
    const webhookLog = await control.webhookLog();
    const acked = ackedEvents(webhookLog);
    const inbox = await inboxRows(db.sql);
    const inboxByIdentity = new Map<string, string[]>();
    for (const row of inbox) {
      const key = eventIdentity(row);
      inboxByIdentity.set(key, [...(inboxByIdentity.get(key) ?? []), row.outcome === 'ignored' ? `ignored:${row.ignoreReason}` : row.outcome]);
    }
    const ackedLost: string[] = [];
    let ackedDirect = 0;
    const disconnectedOwners = new Set([revokedAthlete, reconnectedAthlete]);
    for (const delivery of acked.values()) {
      const e = delivery.event;
      const key = eventIdentity({ objectType: e.object_type, objectId: e.object_id, aspectType: e.aspect_type, eventTime: e.event_time, ownerId: e.owner_id });
      const outcomes = inboxByIdentity.get(key) ?? [];
      if (outcomes.includes('forwarded')) continue;
      if (outcomes.includes('ignored:athlete_not_connected') && disconnectedOwners.has(e.owner_id)) continue;
      if (signalled.has(key)) {
        ackedDirect++;
        continue;
      }
      ackedLost.push(`${key} inbox=[${outcomes.join(',')}]`);
    }

    const counters = await control.counters();
    const requests = Object.entries(counters.requests)
      .filter(([endpoint]) => endpoint.includes('/api/v3/'))
      .reduce((n, [, byStatus]) => n + Object.values(byStatus).reduce((a, b) => a + b, 0), 0);
    const rotations: Record<number, number> = {};
    for (const athlete of finalSnapshot.athletes) if (athlete.connected) rotations[athlete.id] = athlete.rotations;

    return {
      seed,
      size,
      dir,
      storm,
      timeline,
      force429,
      clockShiftMs,
      revokedAthlete,
      reconnectedAthlete,
      readOnlyAthleteIds,
      webhooks: {
        events: counters.webhooks.events,
        delivered: counters.webhooks.delivered,
        failed: counters.webhooks.failed,
        dropped: counters.webhooks.dropped,
        duplicated: counters.webhooks.duplicated,
        acked: acked.size,
        attempts: counters.webhooks.attempts,
      },
      ackedLost,
      ackedDirect,
      serverErrors: counters.serverErrors,
      requests,
      rateLimited: { total: counters.rateLimited, forced: counters.rateLimitedForced, outsideForced: counters.rateLimited - counters.rateLimitedForced },
      divergenceAtStormEnd,
      divergenceFinal,
      repairs,
      converged,
      convergeMs,
      totalMs: Date.now() - started,
      revokedPurged: { ...purged!, workflow: workflows.find((w) => w.athleteId === revokedAthlete)?.status ?? 'unknown' },
      tokensOfRevoked: purged!.tokens,
      rotations,
      workflows,
      replay: { histories: histories.length, failures: replayFailures },
      runsPerAthlete,
    };
  } catch (error) {
    keepDir = true;
    throw error;
  } finally {
    await connection?.close().catch(() => {});
    await processes?.stopAll().catch(() => {});
    await proxy?.stop().catch(() => {});
    await emulator?.close().catch(() => {});
    if (!keepDir) {
      await db?.drop().catch(() => {});
      await rm(dir, { recursive: true, force: true }).catch(() => {});
    } else {
      await db?.sql.end({ timeout: 1 }).catch(() => {});
      log(`chaos: logs and Temporal's state kept in ${dir}, the database in ${db?.url} (drop it when done)`);
    }
  }
}

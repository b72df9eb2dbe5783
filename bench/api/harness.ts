/**
 * The webhook benchmark's moving parts, shared by the full run (webhooks.ts) and its smoke test
 * (test/bench/api.test.ts): a fresh database and Temporal dev server, the servers under test in child processes,
 * fixed-rate load that remembers which events were acknowledged, and the check that every acknowledged event
 * reached its athlete workflow.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { createSql, type Sql } from '../../src/db/connection.js';
import { migrate } from '../../src/db/migrate.js';
import { upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { countByOutcome } from '../../src/db/repositories/webhook-inbox.js';
import { startDevServer, type RunningDevServer } from '../../src/dev/temporal-dev-server.js';
import { athleteWorkflowId } from '../../src/temporal/athlete-start-options.js';
import { cpuPercent, cpuSeconds, type ProcessGroup } from '../lib/process-cpu.js';

const SERVER_SCRIPT = fileURLToPath(new URL('./webhook-server.ts', import.meta.url));
export const TARGET_P99_MS = 50;
export const SUBSCRIPTION_ID = 131300;
export const FIRST_ATHLETE = 1_000;

/**
 * bare: express + express.json answering at once. insert: the same plus one INSERT of the event into a table
 * shaped like the inbox (same columns, defaults, checks and indexes), committed before the answer: the
 * issue's baseline for CPU per event. api: the real API (createApp) with its relay (BENCH_RELAY=off: without).
 */
export type ServerMode = 'bare' | 'insert' | 'api';
export type Server = { mode: ServerMode; port: number; child: ChildProcess };

export interface StackOptions {
  adminUrl: string;
  athletes: number;
  /** GOMAXPROCS and niceness of the dev server (it stands in for Temporal's own machines). */
  temporalCores?: string;
  temporalNice?: number;
  /** A file for the dev server's SQLite store; in memory when absent. */
  temporalDbFile?: string;
}

export interface Stack {
  sql: Sql;
  env: NodeJS.ProcessEnv;
  temporal: RunningDevServer;
  athletes: number;
  close(): Promise<void>;
}

/** A fresh database (migrated, `athletes` connected athletes, the baseline's table) and a Temporal dev server. */
export async function createStack(options: StackOptions): Promise<Stack> {
  const name = `strava_sync_bench_${Date.now()}_${process.pid}`;
  const admin = createSql(options.adminUrl, { max: 1 });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(options.adminUrl);
  url.pathname = `/${name}`;
  const sql = createSql(url.toString(), { max: 2 });
  let temporal: RunningDevServer | undefined;
  const close = async () => {
    await temporal?.stop();
    await sql.end({ timeout: 1 });
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  };
  try {
    await migrate(sql);
    await sql.unsafe('create table bench_baseline_events (like webhook_events including all)');
    for (let i = 0; i < options.athletes; i++) await upsertConnectedAthlete(sql, FIRST_ATHLETE + i, ['read', 'activity:read_all']);
    temporal = await startDevServer({
      ...(options.temporalCores ? { env: { GOMAXPROCS: options.temporalCores } } : {}),
      ...(options.temporalNice !== undefined ? { niceness: options.temporalNice } : {}),
      ...(options.temporalDbFile ? { dbFilename: options.temporalDbFile } : {}),
    });
  } catch (error) {
    await close();
    throw error;
  }
  const env = {
    ...process.env,
    NODE_ENV: 'test',
    DATABASE_URL: url.toString(),
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_TASK_QUEUE: 'bench-webhooks',
  };
  return { sql, env, temporal, athletes: options.athletes, close };
}

export async function spawnServer(mode: ServerMode, env: NodeJS.ProcessEnv, nodeArgs: string[] = []): Promise<Server> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', SERVER_SCRIPT, mode], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${mode} server exited (${code})`)));
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
  });
  return { mode, port, child };
}

export async function stopServer(server: Server): Promise<void> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Unique events for the connected athletes; remembers which ones the server acknowledged with a 200. */
export class EventSource {
  readonly acked = new Set<number>();
  constructor(
    private readonly athletes: number,
    private nextObjectId = 9_000_000_000,
  ) {}

  body(objectId: number): string {
    return JSON.stringify({
      object_type: 'activity',
      object_id: objectId,
      aspect_type: 'create',
      updates: {},
      owner_id: FIRST_ATHLETE + (objectId % this.athletes),
      subscription_id: SUBSCRIPTION_ID,
      event_time: Math.floor(Date.now() / 1000),
    });
  }

  take(): number {
    return this.nextObjectId++;
  }
}

export interface Step {
  target: string;
  rate: number | 'max';
  requests: number;
  seconds: number;
  achievedRate: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  /** Percent of one core per part of the stack during the step. */
  cpu: Record<string, number>;
  /** Server CPU per answered request, in microseconds. */
  cpuPerEventUs: number;
  /** Inbox rows pending when the step started and ended (api servers with a database handle). */
  pending?: { before: number; after: number };
}

/** No errors, every answer 2xx, and (at a fixed rate) at least 95 % of the offered rate achieved. */
export const isClean = (step: Step) =>
  step.non2xx === 0 && step.errors === 0 && (step.rate === 'max' || step.achievedRate >= step.rate * 0.95);

export interface DriveOptions {
  target: string;
  server: Server;
  rate: number | 'max';
  seconds: number;
  events: EventSource;
  /** Other parts of the stack whose CPU the step records (the server itself is always recorded). */
  cpuGroups?: Record<string, ProcessGroup>;
  /** The inbox to read the pending count from before and after the step. */
  sql?: Sql;
}

/** Fixed-rate load on POST /webhooks/strava; each connection sends one request at a time. */
export async function drive(options: DriveOptions): Promise<Step> {
  const { server, rate, seconds, events } = options;
  const groups = { server: { pids: () => [server.child.pid] }, ...options.cpuGroups };
  const pendingBefore = options.sql ? (await countByOutcome(options.sql)).pending : undefined;
  const cpuBefore = await cpuSeconds(groups);
  const started = Date.now();
  const result = await autocannon({
    url: `http://127.0.0.1:${server.port}`,
    connections: rate === 'max' ? 16 : Math.min(64, Math.max(8, Math.ceil(rate / 25))),
    duration: seconds,
    ...(rate === 'max' ? {} : { overallRate: rate }),
    requests: [
      {
        method: 'POST',
        path: '/webhooks/strava',
        headers: { 'content-type': 'application/json' },
        // autocannon builds a connection's next request only after the previous answer was recorded, and
        // resets the context before each build: the context holds the id of the request in flight.
        setupRequest: (request, context) => {
          const objectId = events.take();
          (context as { objectId?: number }).objectId = objectId;
          return { ...request, body: events.body(objectId) };
        },
        onResponse: (status, _body, context) => {
          const objectId = (context as { objectId?: number }).objectId;
          if (status === 200 && objectId !== undefined) events.acked.add(objectId);
        },
      },
    ],
  });
  const cpuAfter = await cpuSeconds(groups);
  const cpu = cpuPercent(cpuBefore, cpuAfter, (Date.now() - started) / 1000);
  const pendingAfter = options.sql ? (await countByOutcome(options.sql)).pending : undefined;
  const answered = result['2xx'] + result.non2xx;
  return {
    target: options.target,
    rate,
    requests: result.requests.total,
    seconds,
    achievedRate: result.requests.total / seconds,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    cpu,
    cpuPerEventUs: answered > 0 ? ((cpuAfter.server! - cpuBefore.server!) * 1e6) / answered : 0,
    ...(pendingBefore !== undefined && pendingAfter !== undefined ? { pending: { before: pendingBefore, after: pendingAfter } } : {}),
  };
}

/** Waits until the inbox has no pending rows (or timeoutMs passes); how many went meanwhile and how long it took. */
export async function waitForRelay(sql: Sql, timeoutMs = 300_000): Promise<{ forwarded: number; seconds: number; counts: Record<string, number> }> {
  const start = Date.now();
  const pendingAtStart = (await countByOutcome(sql)).pending;
  let counts = await countByOutcome(sql);
  while (counts.pending > 0 && Date.now() - start < timeoutMs) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    counts = await countByOutcome(sql);
  }
  return { forwarded: pendingAtStart - counts.pending, seconds: (Date.now() - start) / 1000, counts };
}

export interface DeliveryCheck {
  acked: number;
  /** Acked events whose inbox row is not marked forwarded (or has no row at all). */
  notForwarded: number[];
  /** Acked events no athlete workflow received a stravaEvent signal for. */
  notSignalled: number[];
  /** stravaEvent signals in the workflows' histories (at least once: repeats are allowed). */
  signals: number;
}

/**
 * Every acknowledged event must be in the inbox as forwarded, and in its athlete workflow's history as a
 * stravaEvent signal: read back from Temporal itself, not from the relay's own bookkeeping.
 */
export async function checkDelivery(stack: Stack, events: EventSource): Promise<DeliveryCheck> {
  const forwardedRows = await stack.sql<{ objectId: number }[]>`
    select object_id as "objectId" from webhook_events where outcome = 'forwarded'`;
  const forwarded = new Set(forwardedRows.map((row) => row.objectId));
  const connection = await Connection.connect({ address: stack.temporal.address });
  const signalled = new Set<number>();
  let signals = 0;
  try {
    const client = new Client({ connection });
    for (let i = 0; i < stack.athletes; i++) {
      const handle = client.workflow.getHandle(athleteWorkflowId(FIRST_ATHLETE + i));
      let history;
      try {
        history = await handle.fetchHistory();
      } catch {
        continue; // no event of this athlete was forwarded
      }
      for (const event of history.events ?? []) {
        const attributes = event.workflowExecutionSignaledEventAttributes;
        if (attributes?.signalName !== 'stravaEvent') continue;
        const payload = attributes.input?.payloads?.[0];
        if (!payload) continue;
        const signal = defaultPayloadConverter.fromPayload<{ objectId: number }>(payload);
        signalled.add(signal.objectId);
        signals++;
      }
    }
  } finally {
    await connection.close();
  }
  const acked = [...events.acked];
  return {
    acked: acked.length,
    notForwarded: acked.filter((id) => !forwarded.has(id)),
    notSignalled: acked.filter((id) => !signalled.has(id)),
    signals,
  };
}

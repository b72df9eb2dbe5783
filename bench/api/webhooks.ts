/**
 * Webhook ack benchmark (issue 6): loopback only, bounded duration.
 *
 *   npx tsx bench/api/webhooks.ts [--step-seconds 10] [--out bench/api/RESULTS.md]
 *
 * Starts its own Temporal dev server and a fresh PostgreSQL database (DATABASE_URL's server), runs the real API
 * (createApp) and a bare Express endpoint in child processes, and drives both with autocannon:
 *   1. bare Express at a fixed 200 req/s, 2. the webhook receiver at a fixed 200 events/s (the target: p99 < 50 ms),
 *   3. a fixed-rate ladder (200, 400, 800, ...) on both until a step misses (p99 >= 50 ms, errors, or under 95% of
 *      the offered rate): the highest passing step is the highest sustained rate,
 *   4. the time the relay needs to forward the whole backlog to Temporal after the load stops,
 *   and first, the same API with its relay paused ("receiver": the ack path alone, Temporal idle).
 * Every event is unique (its own object id) and belongs to a connected athlete, so each one is inserted into
 * the inbox and forwarded with signalWithStart: the full path, not the duplicate shortcut.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { createSql } from '../../src/db/connection.js';
import { migrate } from '../../src/db/migrate.js';
import { upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { countByOutcome } from '../../src/db/repositories/webhook-inbox.js';
import { startDevServer } from '../../src/dev/temporal-dev-server.js';

const { values } = parseArgs({
  options: {
    'step-seconds': { type: 'string', default: '10' },
    'max-rate': { type: 'string', default: '1600' },
    out: { type: 'string', default: fileURLToPath(new URL('./RESULTS.md', import.meta.url)) },
    /** Only the webhook at the target rate (for comparing relay settings); writes no report. */
    'target-only': { type: 'boolean', default: false },
  },
});
const STEP_SECONDS = Number(values['step-seconds']);
const MAX_RATE = Number(values['max-rate']);
const TARGET_RATE = 200;
const TARGET_P99_MS = 50;
const ATHLETES = 50;
const SERVER = fileURLToPath(new URL('./webhook-server.ts', import.meta.url));
const SERVER_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

interface Step {
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
  ok: boolean;
}

async function spawnServer(mode: 'bare' | 'api', env: NodeJS.ProcessEnv): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER, mode], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${mode} server exited (${code})`)));
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
  });
  return { port, child };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

let nextObjectId = 9_000_000_000;
function eventBody(): string {
  const objectId = nextObjectId++;
  return JSON.stringify({
    object_type: 'activity',
    object_id: objectId,
    aspect_type: 'create',
    updates: {},
    owner_id: 1_000 + (objectId % ATHLETES),
    subscription_id: 131300,
    event_time: Math.floor(Date.now() / 1000),
  });
}

async function drive(target: string, port: number, rate: number | 'max', seconds: number): Promise<Step> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: rate === 'max' ? 16 : Math.min(64, Math.max(8, Math.ceil(rate / 25))),
    duration: seconds,
    ...(rate === 'max' ? {} : { overallRate: rate }),
    requests: [
      {
        method: 'POST',
        path: '/webhooks/strava',
        headers: { 'content-type': 'application/json' },
        setupRequest: (request) => ({ ...request, body: eventBody() }),
      },
    ],
  });
  const achievedRate = result.requests.total / seconds;
  const step: Step = {
    target,
    rate,
    requests: result.requests.total,
    seconds,
    achievedRate,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    ok: false,
  };
  step.ok = step.p99 < TARGET_P99_MS && step.non2xx === 0 && step.errors === 0 && (rate === 'max' || achievedRate >= rate * 0.95);
  console.log(`${target.padEnd(8)} rate ${String(rate).padStart(5)}/s: ${step.requests} req, ${achievedRate.toFixed(0)}/s, p50 ${step.p50} ms, p99 ${step.p99} ms, max ${step.max} ms, non2xx ${step.non2xx}, errors ${step.errors} ${step.ok ? 'PASS' : 'miss'}`);
  return step;
}

async function ladder(target: string, port: number, seconds = STEP_SECONDS): Promise<{ steps: Step[]; sustained: number }> {
  const steps: Step[] = [];
  let sustained = 0;
  for (let rate = TARGET_RATE; rate <= MAX_RATE; rate *= 2) {
    let step = await drive(target, port, rate, seconds);
    // The machine may be shared: a step that misses gets one more try before the ladder stops.
    if (!step.ok) {
      steps.push(step);
      step = await drive(target, port, rate, seconds);
    }
    steps.push(step);
    if (!step.ok) break;
    sustained = rate;
  }
  return { steps, sustained };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'strava-sync-bench-'));
  const dbName = `strava_sync_bench_${Date.now()}`;
  const admin = createSql(SERVER_URL, { max: 1 });
  await admin.unsafe(`create database ${dbName}`);
  const dbUrl = new URL(SERVER_URL);
  dbUrl.pathname = `/${dbName}`;
  const sql = createSql(dbUrl.toString(), { max: 2 });
  const temporal = await startDevServer({ dbFilename: join(dir, 'temporal.sqlite') });
  const children: ChildProcess[] = [];
  try {
    await migrate(sql);
    for (let i = 0; i < ATHLETES; i++) await upsertConnectedAthlete(sql, 1_000 + i, ['read', 'activity:read_all']);
    const env = {
      ...process.env,
      NODE_ENV: 'test',
      DATABASE_URL: dbUrl.toString(),
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: 'bench-webhooks',
    };
    const bare = await spawnServer('bare', env);
    children.push(bare.child);
    const load = loadavg().map((n) => n.toFixed(2)).join(' ');

    // The receiver alone: the same API with its relay not running, so the Temporal dev server (on the same two
    // cores) is idle during the measurement. Rows stay pending; the full API below forwards them first.
    const receiverOnly = await spawnServer('api', { ...env, BENCH_RELAY: 'off' });
    await drive('warmup', receiverOnly.port, 100, 3);
    const receiverAtTarget = await drive('receiver', receiverOnly.port, TARGET_RATE, STEP_SECONDS * 2);
    // Shorter steps: every event of this ladder becomes relay backlog that is drained before the next phase.
    const receiverLadder = await ladder('receiver', receiverOnly.port, Math.max(3, Math.round(STEP_SECONDS / 2)));
    await stopServer(receiverOnly.child);

    const api = await spawnServer('api', env);
    children.push(api.child);
    const backlog = (await countByOutcome(sql)).pending;
    const backlogStart = Date.now();
    while ((await countByOutcome(sql)).pending > 0 && Date.now() - backlogStart < 300_000) await new Promise((resolve) => setTimeout(resolve, 500));
    console.log(`relay: forwarded the receiver-only backlog of ${backlog} in ${((Date.now() - backlogStart) / 1000).toFixed(1)} s`);

    // Warm-up (JIT, connection pools, first signalWithStart per athlete), not recorded.
    await drive('warmup', bare.port, 100, 3);
    await drive('warmup', api.port, 100, 3);

    if (values['target-only']) {
      void receiverAtTarget;
      await drive('webhook', api.port, TARGET_RATE, STEP_SECONDS * 2);
      return;
    }
    const bareAtTarget = await drive('bare', bare.port, TARGET_RATE, STEP_SECONDS * 2);
    const apiAtTarget = await drive('webhook', api.port, TARGET_RATE, STEP_SECONDS * 2);
    const bareLadder = await ladder('bare', bare.port);
    const apiLadder = await ladder('webhook', api.port);
    const bareMax = await drive('bare', bare.port, 'max', STEP_SECONDS);
    const apiMax = await drive('webhook', api.port, 'max', STEP_SECONDS);

    // How long the relay takes to hand the whole backlog to Temporal once the load stops.
    const drainStart = Date.now();
    const pendingAtStop = (await countByOutcome(sql)).pending;
    let counts = await countByOutcome(sql);
    while (counts.pending > 0 && Date.now() - drainStart < 300_000) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      counts = await countByOutcome(sql);
    }
    const drainSeconds = (Date.now() - drainStart) / 1000;
    const forwardRate = pendingAtStop / Math.max(drainSeconds, 0.001);
    console.log(`relay: ${pendingAtStop} pending at stop, drained in ${drainSeconds.toFixed(1)} s; inbox now ${JSON.stringify(counts)}`);

    const row = (s: Step) =>
      `| ${s.target} | ${s.rate === 'max' ? 'unthrottled (16 conn.)' : `${s.rate}/s`} | ${s.seconds} s | ${s.requests} | ${s.achievedRate.toFixed(0)}/s | ${s.p50} | ${s.p90} | ${s.p99} | ${s.max} | ${s.non2xx + s.errors} | ${s.ok ? 'pass' : 'miss'} |`;
    const header = '| endpoint | offered rate | duration | requests | achieved | p50 ms | p90 ms | p99 ms | max ms | errors | p99 < 50 ms |\n|---|---|---|---|---|---|---|---|---|---|---|';
    const report = `# API benchmarks

## Webhook ack latency (\`npx tsx bench/api/webhooks.ts\`)

Run ${new Date().toISOString()} on ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}, load average at start ${load}
(the Temporal dev server, PostgreSQL and the load generator share these two cores). Loopback only; autocannon in this process, each server in its own
child process. \`webhook\` is the real API (createApp: helmet, request log, metrics, rate limit, zod parse, one INSERT into the
webhook_events inbox committed before the 200, then the relay forwards with signalWithStart) on PostgreSQL
(${SERVER_URL.replace(/\/\/[^@]*@/, '//')}) and a Temporal dev server (SQLite file), no worker polling (the forward is
accepted by the server; workflow execution is not part of the ack). \`bare\` is express + express.json answering at once.
Each event is unique and belongs to one of ${ATHLETES} connected athletes, so every request takes the full path.

**Target: p99 < ${TARGET_P99_MS} ms at ${TARGET_RATE} events/s → ${apiAtTarget.ok ? 'met' : 'NOT met'}** with forwarding running (webhook p99 ${apiAtTarget.p99} ms, bare Express p99 ${bareAtTarget.p99} ms);
the receiver alone (relay paused, Temporal idle): p99 ${receiverAtTarget.p99} ms → ${receiverAtTarget.ok ? 'met' : 'NOT met'}.
Highest sustained rate (fixed-rate ladder, ${STEP_SECONDS} s steps (receiver: half), pass = p99 < ${TARGET_P99_MS} ms, no errors, ≥ 95 % of the offered rate;
a missed step is tried once more before the ladder stops, both attempts are listed):
webhook **${apiLadder.sustained || '< ' + TARGET_RATE}/s**, receiver alone **${receiverLadder.sustained || '< ' + TARGET_RATE}/s**, bare Express **${bareLadder.sustained || '< ' + TARGET_RATE}/s** (ladder capped at ${MAX_RATE}/s).
Unthrottled: webhook ${apiMax.achievedRate.toFixed(0)} req/s (p99 ${apiMax.p99} ms), bare Express ${bareMax.achievedRate.toFixed(0)} req/s (p99 ${bareMax.p99} ms).

${header}
${[bareAtTarget, apiAtTarget, receiverAtTarget].map(row).join('\n')}

Ladder:

${header}
${[...bareLadder.steps, ...apiLadder.steps, ...receiverLadder.steps, bareMax, apiMax].map(row).join('\n')}

\`receiver\` = the same API process with its relay not started: it shows the cost of the ack path itself
(parse, INSERT, commit, answer) without the Temporal dev server and the relay competing for the same two cores.

Relay: ${pendingAtStop} events were still pending in the inbox when the load stopped; the relay forwarded them to Temporal in
${drainSeconds.toFixed(1)} s (≈ ${forwardRate.toFixed(0)} signalWithStart/s against the dev server). Final inbox: ${counts.forwarded} forwarded,
${counts.pending} pending, ${counts.ignored} ignored. The ack never waits for Temporal, so a slow or stopped Temporal
shows up as relay backlog, not as ack latency.
`;
    await writeFile(values.out!, report);
    console.log(`\nwrote ${values.out}`);
  } finally {
    for (const child of children) await stopServer(child);
    await temporal.stop();
    await sql.end({ timeout: 1 });
    await admin.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin.end();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();

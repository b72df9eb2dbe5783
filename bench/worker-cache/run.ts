/**
 * What one cached athlete workflow costs the worker (issue 15: "no workflow cache size is set"), measured so
 * WORKER_MAX_CACHED_WORKFLOWS can be sized from it: N idle athlete workflows on an in-memory dev server, the
 * worker's heap and RSS with none cached and with all N cached (after a forced GC), and the time a signal takes
 * to be applied when its workflow is cached against when the cache is too small to hold it (a replay).
 *
 *   node --expose-gc --import tsx bench/worker-cache/run.ts [--workflows 1000] [--signals 200] [--write]
 *
 * The activities are in-memory fakes (no Strava, no PostgreSQL): the workflow's own cost is what is measured.
 */
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { backgroundTaskQueue } from '../../src/domain/task-queues.js';
import { startDevServer } from '../../src/dev/temporal-dev-server.js';
import { WORKFLOWS_PATH } from '../../src/worker/workflows-path.js';
import { statusQuery, stravaEventSignal } from '../../src/workflows/messages.js';
import { FakeActivities, activityEvent } from '../../test/workflows/fake-activities.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: { workflows: { type: 'string', default: '1000' }, signals: { type: 'string', default: '200' }, write: { type: 'boolean', default: false } },
});
const count = Number(values.workflows);
const signals = Math.min(Number(values.signals), count);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

Runtime.install({ logger: new DefaultLogger('WARN') });
const mb = (bytes: number) => bytes / 2 ** 20;
function memory() {
  gc!();
  gc!();
  const usage = process.memoryUsage();
  return { heapMb: mb(usage.heapUsed), rssMb: mb(usage.rss) };
}

const server = await startDevServer({});
const connection = await Connection.connect({ address: server.address });
const client = new Client({ connection });
const native = await NativeConnection.connect({ address: server.address });
const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });

/** The status query, or undefined when a loaded machine let it time out (the caller asks again). */
async function queryStatus(workflowId: string) {
  return client.workflow
    .getHandle(workflowId)
    .query(statusQuery)
    .catch(() => undefined);
}

/** Starts `n` athlete workflows and runs `fn` with a worker whose cache holds `cacheSize` of them. */
async function withFleet<T>(taskQueue: string, cacheSize: number, fn: (ids: string[], empty: ReturnType<typeof memory>) => Promise<T>): Promise<T> {
  const fake = new FakeActivities();
  const worker = await Worker.create({
    connection: native,
    taskQueue,
    workflowBundle: bundle,
    activities: fake.activities(),
    maxCachedWorkflows: cacheSize,
    maxConcurrentWorkflowTaskExecutions: 20,
  });
  // The import pages go to the background task queue (src/domain/task-queues.ts).
  const background = await Worker.create({ connection: native, taskQueue: backgroundTaskQueue(taskQueue), activities: fake.activities() });
  const ids = Array.from({ length: count }, (_, i) => `athlete-${i + 1}-${taskQueue}`);
  return background.runUntil(() => worker.runUntil(async () => {
    // The worker running (its workflow thread and bundle loaded) with nothing cached yet.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const empty = memory();
    for (let i = 0; i < ids.length; i += 50) {
      await Promise.all(
        ids.slice(i, i + 50).map((workflowId, j) =>
          client.workflow.start('athleteSync', { workflowId, taskQueue, args: [{ athleteId: i + j + 1, options: { backfillJitter: 0 } }] }),
        ),
      );
    }
    // Every workflow imported its (empty) history and is resting.
    for (const workflowId of ids) {
      for (;;) {
        const status = await queryStatus(workflowId);
        if (status && status.import.done && status.state === 'idle') break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    try {
      return await fn(ids, empty);
    } finally {
      await Promise.all(ids.map((id) => client.workflow.getHandle(id).terminate('bench done').catch(() => {})));
    }
  }));
}

/** Milliseconds from a signal to its event being applied (the status query shows it), for `signals` workflows. */
async function signalLatencies(ids: string[]): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < signals; i++) {
    const handle = client.workflow.getHandle(ids[Math.floor((i * ids.length) / signals)]!);
    let before = await queryStatus(handle.workflowId);
    while (!before) before = await queryStatus(handle.workflowId);
    const start = performance.now();
    await handle.signal(stravaEventSignal, activityEvent(before.athleteId, 1_000 + i, 'create', Math.floor(Date.now() / 1000)));
    for (;;) {
      const status = await queryStatus(handle.workflowId);
      if (status && status.counters.eventsHandled > before.counters.eventsHandled) break;
    }
    samples.push(performance.now() - start);
  }
  return samples.sort((a, b) => a - b);
}
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

const cached = await withFleet('cache-all', count + 100, async (ids, empty) => {
  const held = memory();
  const latency = await signalLatencies(ids);
  return { empty, held, latency };
});
const baseline = cached.empty;
// A cache of a tenth: nearly every signal lands on an evicted workflow, which the worker replays first.
const evicting = await withFleet('cache-tenth', Math.max(1, Math.floor(count / 10)), (ids) => signalLatencies(ids));

const perWorkflowKb = ((cached.held.heapMb - baseline.heapMb) * 1024) / count;
const perWorkflowRssKb = ((cached.held.rssMb - baseline.rssMb) * 1024) / count;
const lines = [
  '# The worker\'s workflow cache: what one cached athlete workflow costs',
  '',
  `Command: \`node --expose-gc --import tsx bench/worker-cache/run.ts --workflows ${count} --signals ${signals}${values.write ? ' --write' : ''}\``,
  `Machine: ${cpus().length} x ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}. Date: ${new Date().toISOString()}.`,
  'In-memory Temporal dev server on the same machine; in-memory fake activities (the workflow\'s own cost only).',
  '',
  '| measure | value |',
  '|---|---|',
  `| worker heap / RSS running, no workflow cached (baseline) | ${baseline.heapMb.toFixed(0)} MiB / ${baseline.rssMb.toFixed(0)} MiB |`,
  `| worker heap / RSS with ${count} idle athlete workflows cached | ${cached.held.heapMb.toFixed(0)} MiB / ${cached.held.rssMb.toFixed(0)} MiB |`,
  `| per cached workflow: heap / RSS | ${perWorkflowKb.toFixed(0)} KiB / ${perWorkflowRssKb.toFixed(0)} KiB |`,
  `| signal -> event applied, workflow cached: p50 / p99 | ${pct(cached.latency, 0.5).toFixed(1)} ms / ${pct(cached.latency, 0.99).toFixed(1)} ms |`,
  `| same, cache holds a tenth (evicted: replayed first): p50 / p99 | ${pct(evicting, 0.5).toFixed(1)} ms / ${pct(evicting, 0.99).toFixed(1)} ms |`,
  '',
  `Rule: WORKER_MAX_CACHED_WORKFLOWS should hold every athlete workflow the worker serves; measured ~${Math.ceil(perWorkflowRssKb)} KiB each here, ` +
    'budgeted at 0.5 MiB (src/worker/workflow-cache-size.ts), 10,000 athletes take ~5 GiB. docs/operations.md, "Worker sizing". ' +
    'Signal latencies depend on the machine\'s load at the time: read them as an order of magnitude.',
  '',
];
console.log(lines.join('\n'));
if (values.write) await writeFile(join(here, 'RESULTS.md'), lines.join('\n'));

await connection.close();
await native.close();
await server.stop();

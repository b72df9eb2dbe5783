import { randomInt } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { createActivities } from '../../src/activities/index.js';
import { titleDigest, toInboxInput, webhookEventSchema } from '../../src/api/webhooks/event-schema.js';
import { toEventSignal } from '../../src/api/webhooks/event-signal.js';
import type { Config } from '../../src/config.js';
import type { Sql } from '../../src/db/connection.js';
import { upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { createStravaServices, type StravaServices } from '../../src/strava/services.js';
import { AthleteGateway, athleteStartOptions } from '../../src/temporal/athlete-gateway.js';
import type { AthleteStatus, AthleteSyncOptions } from '../../src/workflows/athlete-state.js';
import { athleteSync } from '../../src/workflows/athlete-sync.js';
import { statusQuery } from '../../src/workflows/messages.js';
import { createAthleteWorker, type AthleteWorker } from '../../src/worker/create-worker.js';
import { emulatorConfig } from '../helpers/emulator-config.js';
import { waitFor } from '../helpers/wait-for.js';
import { uniqueTaskQueue, workflowBundle, type DevServerHandles } from '../helpers/temporal.js';

/**
 * Shared set-up of the workflow integration tests: real PostgreSQL, the dev server, the emulator over HTTP,
 * a worker on a unique task queue, and a tiny webhook receiver that turns the emulator's POSTs into signals.
 */

export const FIXTURES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'histories');

export type Handle = WorkflowHandle<typeof athleteSync>;

export interface Harness {
  config: Config;
  services: StravaServices;
  taskQueue: string;
  /** Every secret handed out during the run (tokens, client secret): none may appear in a workflow history. */
  secrets: Set<string>;
  handles: Handle[];
  startWorker(): Promise<AthleteWorker>;
  connectAthlete(activities: number, options?: { scope?: string; sync?: Partial<AthleteSyncOptions> }): Promise<{ athleteId: number; handle: Handle }>;
  listenForWebhooks(): Promise<void>;
  close(): Promise<void>;
}

export async function createHarness(
  sql: Sql,
  databaseUrl: string,
  emulator: RunningEmulator,
  dev: DevServerHandles,
  env: Record<string, string> = {},
): Promise<Harness> {
  const taskQueue = uniqueTaskQueue('workflow-it');
  const config = emulatorConfig(emulator, databaseUrl, { TEMPORAL_TASK_QUEUE: taskQueue, ...env });
  const services = createStravaServices(config, sql, { now: () => emulator.now() });
  // A generous backfill budget: these tests run backfills every few seconds (the stretch is tested with fakes).
  const activities = createActivities({ sql, strava: services.athleteStrava, now: () => emulator.now(), dailyBackgroundBudget: 1e9 });
  const secrets = new Set<string>([emulator.clientSecret]);
  const handles: Handle[] = [];
  const workers: AthleteWorker[] = [];
  const runs: Promise<void>[] = [];
  let receiver: Server | undefined;

  return {
    config,
    services,
    taskQueue,
    secrets,
    handles,
    async startWorker() {
      const worker = await createAthleteWorker({
        connection: dev.nativeConnection,
        taskQueue,
        activities,
        workflowBundle: await workflowBundle(),
        shutdownGraceTime: '1s',
      });
      workers.push(worker);
      runs.push(worker.run().catch(() => {}));
      return worker;
    },
    async connectAthlete(count, options = {}) {
      // Random ids: the dev server is shared by every test file, and workflow ids are athlete-<id>.
      const { id: athleteId } = await emulator.control.createAthlete({ id: randomInt(100_000_000, 900_000_000), activities: count });
      const issued = await emulator.control.issueTokens(athleteId, options.scope);
      secrets.add(issued.accessToken).add(issued.refreshToken);
      await upsertConnectedAthlete(sql, athleteId, issued.scope.split(','));
      await services.vault.store(athleteId, issued);
      const handle = await dev.client.workflow.start(athleteSync, athleteStartOptions(config, athleteId, { backfillJitter: 0, ...options.sync }));
      handles.push(handle);
      return { athleteId, handle };
    },
    async listenForWebhooks() {
      // Until the API's webhook route is used here: answer the handshake, turn each POST into a signal, and
      // answer 200 only once Temporal accepted it (otherwise 500, and the emulator retries like Strava).
      const forwarder = new AthleteGateway(dev.client, config).eventForwarder(10_000);
      const digestTitle = titleDigest(config.TOKEN_ENCRYPTION_KEY);
      receiver = createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://receiver');
        if (req.method === 'GET') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ 'hub.challenge': url.searchParams.get('hub.challenge') }));
          return;
        }
        let body = '';
        req.on('data', (chunk: Buffer) => (body += chunk.toString()));
        req.on('end', () => {
          const parsed = webhookEventSchema.safeParse(JSON.parse(body || '{}'));
          if (!parsed.success) return void res.writeHead(400).end();
          // Received "when it was sent": no clamp, as the emulator's clock may run ahead of this process's.
          const signal = toEventSignal(toInboxInput(parsed.data, digestTitle, parsed.data.event_time * 1000));
          forwarder
            .deliverToRunning(signal)
            .then(() => res.writeHead(200).end('{}'))
            .catch(() => res.writeHead(500).end());
        });
      });
      await new Promise<void>((resolve) => receiver!.listen(0, '127.0.0.1', resolve));
      const { port } = receiver.address() as AddressInfo;
      await services.client.createPushSubscription({ callbackUrl: `http://127.0.0.1:${port}/webhooks`, verifyToken: 'it-verify' });
    },
    async close() {
      await Promise.all(workers.map(async (w) => (w.getState() === 'RUNNING' ? w.shutdown() : undefined)));
      // shutdown() only begins it: the connection can be closed once every worker has released it.
      await Promise.all(runs);
      for (const handle of handles) await handle.terminate('test done').catch(() => {});
      await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
    },
  };
}

export async function waitForStatus(handle: Handle, predicate: (s: AthleteStatus) => boolean, timeoutMs = 30_000): Promise<AthleteStatus> {
  return waitFor(() => handle.query(statusQuery), predicate, { timeoutMs, intervalMs: 100, what: 'the status condition' });
}

/** Every string in a history, plus the decoded text of base64 payload data (where arguments and results live). */
function historyTexts(json: string): string[] {
  const texts: string[] = [json];
  const walk = (value: unknown) => {
    if (typeof value === 'string') {
      texts.push(value, Buffer.from(value, 'base64').toString('utf8'));
    } else if (Array.isArray(value)) {
      value.forEach(walk);
    } else if (value && typeof value === 'object') {
      Object.values(value).forEach(walk);
    }
  };
  walk(JSON.parse(json));
  return texts;
}

/** Fetches the histories of every run of the harness's workflows; optionally records them as replay fixtures. */
export async function collectHistories(harness: Harness, dev: DevServerHandles, fixturePrefix?: string): Promise<string[]> {
  const histories: string[] = [];
  for (const [handleIndex, handle] of harness.handles.entries()) {
    // Every run: continue-as-new chains hold several.
    const runs = dev.client.workflow.list({ query: `WorkflowId = '${handle.workflowId}'` });
    let index = 0;
    for await (const run of runs) {
      const history = await dev.client.workflow.getHandle(handle.workflowId, run.runId).fetchHistory();
      const json = historyToJSON(history);
      histories.push(json);
      if (fixturePrefix && process.env.RECORD_HISTORIES === '1') {
        await mkdir(FIXTURES_DIR, { recursive: true });
        await writeFile(join(FIXTURES_DIR, `${fixturePrefix}-${handleIndex}-${index++}.json`), json);
      }
    }
  }
  return histories;
}

/** The secrets (and their base64 forms) found in any history: must be empty. */
export function secretsIn(histories: string[], secrets: Set<string>): string[] {
  const found = new Set<string>();
  for (const json of histories) {
    const texts = historyTexts(json);
    for (const secret of secrets) {
      if (texts.some((t) => t.includes(secret))) found.add(`${secret.slice(0, 4)}…`);
    }
  }
  return [...found];
}

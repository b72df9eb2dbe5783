import { randomInt } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { bundleWorkflowCode, Worker, type NativeConnection } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import express, { type Express } from 'express';
import { fileURLToPath } from 'node:url';
import { loadConfig, type Config } from '../../../src/config.js';
import type { StravaEventSignal } from '../../../src/domain/sync-types.js';
import { athleteWorkflowId } from '../../../src/temporal/athlete-gateway.js';
import type { WebhookEventInput } from '../../../src/api/webhooks/event-schema.js';
import { receivedEventsQuery } from './recording-workflow.js';

import { waitFor } from '../../helpers/wait-for.js';

export { waitFor };

const RECORDING_WORKFLOW = fileURLToPath(new URL('./recording-workflow.ts', import.meta.url));

let bundle: Promise<{ code: string }> | undefined;
/** The recording workflow, bundled once per test file. */
export function recordingBundle(): Promise<{ code: string }> {
  bundle ??= bundleWorkflowCode({ workflowsPath: RECORDING_WORKFLOW, logger: quietLogger });
  return bundle;
}
const noop = () => {};
const quietLogger = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: console.error };

export async function startRecordingWorker(connection: NativeConnection, taskQueue: string): Promise<{ stop(): Promise<void> }> {
  const worker = await Worker.create({ connection, taskQueue, workflowBundle: await recordingBundle() });
  const running = worker.run();
  return {
    async stop() {
      worker.shutdown();
      await running;
    },
  };
}

export async function receivedEvents(client: Client, athleteId: number): Promise<StravaEventSignal[]> {
  try {
    return await client.workflow.getHandle(athleteWorkflowId(athleteId)).query(receivedEventsQuery);
  } catch {
    return [];
  }
}

/** Athlete ids unique to this run, so workflows `athlete-<id>` on the shared dev server never collide. */
export function uniqueAthleteIds(count: number): number[] {
  const base = randomInt(1_000_000, 2 ** 40) * 1000;
  return Array.from({ length: count }, (_, i) => base + i);
}

export function testConfig(overrides: Record<string, string>): Config {
  return loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', ...overrides });
}

export function event(overrides: Partial<WebhookEventInput> & { owner_id: number }): WebhookEventInput {
  return {
    object_type: 'activity',
    object_id: randomInt(1, 2 ** 40),
    aspect_type: 'create',
    updates: {},
    subscription_id: 131300,
    event_time: Math.floor(Date.now() / 1000),
    ...overrides,
  };
}

export async function listen(app: Express | express.Router, port = 0): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const host = express();
  host.use(app);
  return new Promise((resolve) => {
    const server = host.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${bound}`,
        server,
        close: () => new Promise<void>((done) => { server.closeAllConnections(); server.close(() => done()); }),
      });
    });
  });
}

export async function postJson(url: string, body: unknown, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep text
  }
  return { status: response.status, body: parsed };
}

/**
 * The positive control of a "nothing else happened" check: posts a fresh event for the connected `owner` and
 * waits until its workflow has received it. The relay forwards pending rows oldest first, so by then it has
 * forwarded everything recorded before the marker that it was ever going to. Returns the marker's object id.
 */
export async function forwardMarker(post: (body: WebhookEventInput) => Promise<{ status: number }>, client: Client, owner: number): Promise<number> {
  const marker = event({ owner_id: owner, object_id: randomInt(900_000_000, 2 ** 40) });
  const answer = await post(marker);
  if (answer.status !== 200) throw new Error(`the marker event was answered ${answer.status}`);
  await waitFor(() => receivedEvents(client, owner), (events) => events.some((e) => e.objectId === marker.object_id), {
    what: 'the marker event to reach its workflow',
  });
  return marker.object_id;
}

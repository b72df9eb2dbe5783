import { randomBytes } from 'node:crypto';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { athleteChangeSchema, type AthleteChange } from '../../src/db/change-feed.js';
import { readTokens } from '../../src/db/repositories/tokens.js';
import { listEvents } from '../../src/db/repositories/webhook-inbox.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import type { EmulatorActivity } from '../../src/emulator/control-client.js';
import { createTokenCipher } from '../../src/strava/token-crypto.js';
import { athleteWorkflowId } from '../../src/temporal/athlete-gateway.js';
import { eventually, startApi, startWorker, uniqueAthleteId, waitFor, type ApiHarness } from '../api/helpers/api-harness.js';
import { testBrowser } from '../api/helpers/browser.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { expectConverged, storedActivities } from '../integration/helpers/ground-truth.js';
import { secretsIn } from '../integration/workflow-harness.js';

/**
 * The whole product path with real parts only: PostgreSQL, the shared Temporal dev server, a worker with the real
 * activities, the real API on a real port, and the emulator over HTTP delivering real webhooks to the API.
 * The steps build on each other (one athlete's life from connect to revocation), so they run in order.
 */

const db = useTestDatabase();

interface StatusBody {
  athleteId: number;
  state: string;
  source: 'workflow' | 'database';
  workflow: { id: string; status: string; closedStatus?: string; live?: { state: string; import: { done: boolean; imported: number } } };
}
interface PageBody {
  activities: { id: number; name: string; sportType: string; private: boolean; startDate: string }[];
  nextCursor: string | null;
}

/** Reads an SSE response in the background, keeping every `change` event it delivered. */
function readChanges(response: Response) {
  const changes: AthleteChange[] = [];
  let text = '';
  let ready = false;
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const done = (async () => {
    for (;;) {
      const chunk = await reader.read().catch(() => ({ done: true as const, value: undefined }));
      if (chunk.done) return;
      text += chunk.value;
      // Events are separated by a blank line; keep the unfinished tail for the next chunk.
      const blocks = text.split('\n\n');
      text = blocks.pop()!;
      for (const block of blocks) {
        if (/^event: ready$/m.test(block)) ready = true;
        const data = /^event: change\ndata: (.*)$/m.exec(block)?.[1];
        if (data) changes.push(athleteChangeSchema.parse(JSON.parse(data)));
      }
    }
  })();
  return { changes, isReady: () => ready, done };
}

describe('full stack: subscription, OAuth connect, webhooks, repair, revocation', () => {
  let dev: DevServerHandles;
  let emulator: RunningEmulator;
  let api: ApiHarness;
  let worker: { stop(): Promise<void> };
  const athleteId = uniqueAthleteId();
  const workflowId = athleteWorkflowId(athleteId);
  const tag = randomBytes(4).toString('hex');
  /** Everything that must never appear in a workflow history. */
  const secrets = new Set<string>();
  let sse: ReturnType<typeof readChanges> | undefined;
  const sseAbort = new AbortController();
  /** Ids the webhook step changed, each of which must show up on the SSE stream. */
  const touched = { upserted: [] as number[], deleted: [] as number[] };

  const status = async (): Promise<StatusBody> => (await (await api.fetch(`/athletes/${athleteId}`, { admin: true })).json()) as StatusBody;
  const tokenRows = async () => (await db.sql`select 1 from tokens where athlete_id = ${athleteId}`).count;

  beforeAll(async () => {
    [dev, emulator] = await Promise.all([connectDevServer(), startEmulator({ seed: 23, webhookRetryDelayMs: 100 })]);
    // Its own unique task queue (startApi), the relay running as in production.
    api = await startApi({ db, dev, emulator, relay: true });
    worker = await startWorker(api, dev, db.sql, emulator);
    secrets.add(emulator.clientSecret);
  });
  afterAll(async () => {
    sseAbort.abort();
    await sse?.done;
    await dev?.client.workflow.getHandle(workflowId).terminate('test done').catch(() => {});
    await worker?.stop();
    await api?.stop();
    await emulator?.close();
    await dev?.close();
  });

  it('1. creates the webhook subscription through the real handshake', async () => {
    const response = await api.fetch('/admin/subscription', { method: 'POST', admin: true });
    expect(response.status).toBe(201);
    const body = (await response.json()) as { created: boolean; subscription: { id: number; callbackUrl: string } };
    expect(body.created).toBe(true);
    expect(body.subscription.callbackUrl).toBe(`${api.url}/webhooks/strava`);
    expect(await emulator.control.subscription()).toMatchObject({ id: body.subscription.id, callback_url: `${api.url}/webhooks/strava` });
  });

  it('2. connects an athlete through the browser OAuth flow and imports the whole history', async () => {
    await emulator.control.createAthlete({ id: athleteId, activities: 300 });
    // The browser: our consent redirect, Strava's (auto-approved) consent page, back to our callback.
    const browser = testBrowser();
    const start = await browser.fetch(`${api.url}/auth/strava?return_to=%2Fconnected`);
    expect(start.status).toBe(302);
    const authorize = new URL(start.headers.get('location')!);
    expect(`${authorize.origin}${authorize.pathname}`).toBe(`${emulator.oauthUrl}/authorize`);
    authorize.searchParams.set('athlete_id', String(athleteId));
    const consent = await browser.fetch(authorize);
    expect(consent.status).toBe(302);
    const callback = new URL(consent.headers.get('location')!);
    expect(`${callback.origin}${callback.pathname}`).toBe(`${api.url}/auth/strava/callback`);
    const done = await browser.fetch(callback);
    expect(done.status).toBe(303);
    const back = new URL(done.headers.get('location')!);
    expect(back.pathname).toBe('/connected');
    expect(Object.fromEntries(back.searchParams)).toEqual({ strava: 'connected', athlete_id: String(athleteId) });

    // The tokens Strava issued, as stored (encrypted) by the callback: they must never reach a history.
    const row = await readTokens(db.sql, athleteId);
    expect(row).toBeDefined();
    const cipher = createTokenCipher({ key: api.config.TOKEN_ENCRYPTION_KEY, keyId: api.config.tokenKeyId, oldKeys: api.config.TOKEN_DECRYPTION_KEYS });
    const accessToken = cipher.decrypt(row!.accessTokenEnc, row!.keyId, athleteId, 'access');
    const refreshToken = cipher.decrypt(row!.refreshTokenEnc, row!.keyId, athleteId, 'refresh');
    expect(accessToken).toMatch(/^[0-9a-f]{40}$/);
    expect(refreshToken).toMatch(/^[0-9a-f]{40}$/);
    secrets.add(accessToken).add(refreshToken);

    const idle = await waitFor(status, (body) => body.source === 'workflow' && body.state === 'idle' && !!body.workflow.live?.import.done, {
      timeoutMs: 40_000,
      what: 'the import to finish',
    });
    expect(idle.workflow.status).toBe('running');

    const truth = await emulator.control.groundTruth(athleteId);
    expect(truth).toHaveLength(300);
    const listed: PageBody['activities'] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await api.fetch(`/athletes/${athleteId}/activities?limit=70${cursor ? `&cursor=${cursor}` : ''}`, { admin: true });
      expect(page.status).toBe(200);
      const body = (await page.json()) as PageBody;
      listed.push(...body.activities);
      cursor = body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(5);
    expect(listed.map((a) => a.id).sort()).toEqual(truth.map((a) => a.id).sort());
    expect(new Set(listed.map((a) => a.id)).size).toBe(listed.length);
    // Newest first across page boundaries.
    const starts = listed.map((a) => Date.parse(a.startDate));
    expect(starts).toEqual([...starts].sort((a, b) => b - a));
  });

  it('3. opens the server-sent event stream', async () => {
    const response = await api.fetch(`/athletes/${athleteId}/events`, { admin: true, signal: sseAbort.signal });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    sse = readChanges(response);
    await eventually(async () => (sse!.isReady() ? true : undefined), 5_000, 'the ready event');
  });

  it('4. applies creates, renames, type and privacy changes and deletes delivered as real webhooks', async () => {
    const truth = await emulator.control.groundTruth(athleteId);
    const everyone = truth.filter((a) => a.visibility === 'everyone');
    const [renamed, retyped, flipped, deleted] = everyone as [EmulatorActivity, EmulatorActivity, EmulatorActivity, EmulatorActivity];
    const webhooksBefore = (await emulator.control.counters()).webhooks.delivered;

    const created: EmulatorActivity[] = [];
    for (let i = 0; i < 3; i++) created.push(await emulator.control.createActivity(athleteId, { name: `E2E created ${i} ${tag}`, sport_type: 'Run' }));
    await emulator.control.updateActivity(renamed.id, { name: `E2E renamed ${tag}` });
    await emulator.control.updateActivity(retyped.id, { sport_type: retyped.sport_type === 'Ride' ? 'Run' : 'Ride' });
    await emulator.control.deleteActivity(deleted.id);
    const flipSecond = Math.floor((await emulator.control.now()) / 1000);
    await emulator.control.updateActivity(flipped.id, { visibility: 'only_me' });
    // Observe the flip to "Only You" through the webhook path before flipping back.
    await waitFor(
      async () => (await db.sql<{ private: boolean }[]>`select private from activities where id = ${flipped.id}`)[0],
      (row) => row?.private === true,
      { timeoutMs: 20_000, what: 'the privacy flip to only_me' },
    );
    // Flip back within the same Strava second (the emulator clock set back to its start): both events share
    // object, aspect and event_time, and only their `updates` tell them apart. Neither may be taken for a repeat.
    await emulator.control.setClock(flipSecond * 1000);
    await emulator.control.updateActivity(flipped.id, { visibility: 'everyone' });

    await expectConverged(db.sql, emulator, athleteId, 30_000);
    const rows = await storedActivities(db.sql, athleteId);
    expect(rows.find((r) => r.id === renamed.id)?.name).toBe(`E2E renamed ${tag}`);
    expect(rows.find((r) => r.id === flipped.id)?.private).toBe(false);
    expect(rows.some((r) => r.id === deleted.id)).toBe(false);
    for (const activity of created) expect(rows.find((r) => r.id === activity.id)?.name).toBe(activity.name);

    // Every change reached the API as a webhook (nothing was repaired by polling), went through the inbox and
    // was forwarded by the relay.
    const settled = await emulator.control.webhooksSettled(10_000);
    expect(settled.delivered - webhooksBefore).toBe(8);
    expect(settled.failed).toBe(0);
    const inbox = await waitFor(
      () => listEvents(db.sql, { ownerId: athleteId }),
      (events) => events.length === 8 && events.every((e) => e.outcome === 'forwarded'),
      { timeoutMs: 10_000, what: 'every inbox row forwarded' },
    );
    expect(inbox.map((e) => e.aspectType).sort()).toEqual(['create', 'create', 'create', 'delete', 'update', 'update', 'update', 'update']);
    const flips = inbox.filter((e) => e.objectId === flipped.id);
    expect(flips.map((e) => [e.eventTime, e.updates])).toEqual([[flipSecond, { private: true }], [flipSecond, { private: false }]]);
    expect(JSON.stringify(inbox)).not.toContain(tag);

    touched.upserted.push(...created.map((a) => a.id), renamed.id, retyped.id, flipped.id);
    touched.deleted.push(deleted.id);
    for (const activity of created) secrets.add(activity.name);
    secrets.add(`E2E renamed ${tag}`);

    // The open stream announced each of these activities.
    const announced = await eventually(async () => {
      const changes = sse!.changes;
      const upserted = new Set(changes.filter((c) => c.kind === 'activities_upserted').flatMap((c) => c.activityIds ?? []));
      const removed = new Set(changes.filter((c) => c.kind === 'activities_deleted').flatMap((c) => c.activityIds ?? []));
      return touched.upserted.every((id) => upserted.has(id)) && touched.deleted.every((id) => removed.has(id)) ? changes : undefined;
    }, 5_000, 'change events for every touched activity');
    expect(announced.every((c) => c.athleteId === athleteId)).toBe(true);
  });

  it('5. repairs a dropped webhook with sync now', async () => {
    await emulator.control.setFaults({ webhookDropRate: 1 });
    const droppedBefore = (await emulator.control.counters()).webhooks.dropped;
    let missed: EmulatorActivity;
    try {
      missed = await emulator.control.createActivity(athleteId, { name: `E2E missed ${tag}`, sport_type: 'Ride' });
    } finally {
      // Later steps need webhooks again, whatever happens here.
      await emulator.control.setFaults({ webhookDropRate: 0 });
    }
    secrets.add(missed.name);
    expect((await emulator.control.counters()).webhooks.dropped).toBe(droppedBefore + 1);
    expect((await storedActivities(db.sql, athleteId)).some((r) => r.id === missed.id)).toBe(false);

    const response = await api.fetch(`/athletes/${athleteId}/sync`, { method: 'POST', admin: true });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { status: string; result: { added: number; updated: number; deleted: number } };
    expect(body.status).toBe('done');
    expect(body.result).toMatchObject({ added: 1, updated: 0, deleted: 0 });
    await expectConverged(db.sql, emulator, athleteId, 5_000);
    expect((await storedActivities(db.sql, athleteId)).find((r) => r.id === missed.id)?.name).toBe(missed.name);
  });

  it('6. purges the athlete when they revoke access on Strava', async () => {
    expect(await tokenRows()).toBe(1);
    expect(await emulator.control.revokeAthlete(athleteId)).toBe(true);
    const revoked = await waitFor(status, (body) => body.state === 'revoked' && body.workflow.status === 'closed', {
      timeoutMs: 30_000,
      what: 'the athlete to be revoked and the workflow closed',
    });
    expect(revoked).toMatchObject({ source: 'database', workflow: { id: workflowId, closedStatus: 'COMPLETED' } });
    expect((await db.sql`select 1 from activities where athlete_id = ${athleteId}`).count).toBe(0);
    expect(await tokenRows()).toBe(0);
    expect((await dev.client.workflow.getHandle(workflowId).describe()).status.name).toBe('COMPLETED');
    const deauthorization = (await listEvents(db.sql, { ownerId: athleteId })).find((e) => e.objectType === 'athlete');
    expect(deauthorization).toMatchObject({ outcome: 'forwarded', updates: { authorized: false } });
    expect(await eventually(async () => (sse!.changes.some((c) => c.kind === 'athlete_purged') ? true : undefined), 5_000, 'the purge event')).toBe(true);
  });

  it('7. no token, client secret or activity name in any workflow history or API log', async () => {
    const histories: string[] = [];
    for await (const run of dev.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      histories.push(historyToJSON(await dev.client.workflow.getHandle(workflowId, run.runId).fetchHistory()));
    }
    expect(histories.length).toBeGreaterThanOrEqual(1);
    // The scan decodes payloads: an id the workflow did handle is found, so a clean result means something.
    expect(secretsIn(histories, new Set([String(touched.deleted[0])]))).toHaveLength(1);
    expect(secrets.size).toBeGreaterThanOrEqual(8);
    expect(secretsIn(histories, secrets)).toEqual([]);
    const logs = api.logs.join('');
    expect([...secrets].filter((secret) => logs.includes(secret))).toEqual([]);
  });
});

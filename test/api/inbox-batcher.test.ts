import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createInboxBatcher, InboxBusyError } from '../../src/api/webhooks/inbox-batcher.js';
import { classifyDatabaseError } from '../../src/api/webhooks/database-errors.js';
import { createWebhookRouter } from '../../src/api/webhooks/router.js';
import { createSql, type Sql } from '../../src/db/connection.js';
import { upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { recordEvent, recordEvents, type InboxEventInput, type RecordResult } from '../../src/db/repositories/webhook-inbox.js';
import type { EventForwarder } from '../../src/temporal/athlete-gateway.js';
import { createTestDatabase, useTestDatabase, type TestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait-for.js';

const db = useTestDatabase();
const CONNECTED = [7001, 7002];
const STRANGER = 7999;
const APP_NAME = 'inbox-batcher-test';

let nextObjectId = 1;
const event = (ownerId: number, overrides: Partial<InboxEventInput> = {}): InboxEventInput => ({
  objectType: 'activity',
  objectId: nextObjectId++,
  aspectType: 'create',
  ownerId,
  subscriptionId: 131300,
  eventTime: 1_700_000_000,
  updates: {},
  ...overrides,
});
/** jsonb cannot hold \u0000: PostgreSQL refuses this event's statement with SQLSTATE 22P05. */
const refusedByPostgres = (ownerId: number) => event(ownerId, { aspectType: 'update', updates: { type: 'Run\u0000' } });
const summary = (result: RecordResult) => (result.kind === 'duplicate' ? 'duplicate' : result.outcome === 'ignored' ? `ignored:${result.ignoreReason}` : 'pending');

let sql: Sql;
beforeAll(async () => {
  sql = createSql(db.url, { max: 4, applicationName: APP_NAME });
  for (const id of CONNECTED) await upsertConnectedAthlete(db.sql, id, ['read', 'activity:read_all']);
});
afterAll(async () => {
  await sql?.end({ timeout: 1 });
});
beforeEach(async () => {
  await db.sql`delete from webhook_events`;
});

/** Holds a lock that blocks every insert into the inbox until release() (the batch then waits in PostgreSQL). */
async function blockInserts(): Promise<{ release: () => Promise<void> }> {
  const holder = createSql(db.url, { max: 1 });
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const done = holder.begin(async (tx) => {
    await tx`lock table webhook_events in share mode`;
    locked();
    await released;
  });
  await isLocked;
  return {
    release: async () => {
      release();
      await done;
      await holder.end({ timeout: 1 });
    },
  };
}

/** Terminates the batcher's backend once its batch waits for the lock: the connection dies mid-transaction. */
async function killWaitingBatch(): Promise<void> {
  const pid = await waitFor(
    async () => (await db.sql<{ pid: number }[]>`
      select pid from pg_stat_activity where application_name = ${APP_NAME} and wait_event_type = 'Lock'`)[0]?.pid,
    (found) => found !== undefined,
    { what: 'the batch waiting for the lock' },
  );
  await db.sql`select pg_terminate_backend(${pid!})`;
}

/** Resolves once a batch of this test's pool waits for the inserts lock (it is in flight). */
async function batchWaitingForLock(): Promise<void> {
  await waitFor(
    async () => (await db.sql`select 1 from pg_stat_activity where application_name = ${APP_NAME} and wait_event_type = 'Lock'`).length,
    (waiting) => waiting > 0,
    { what: 'a batch waiting for the lock' },
  );
}

/** The first of `promises` to settle, or a failure naming `what` after 10 s (a refusal that never came). */
function firstSettled<T>(promises: Promise<T>[], what: string): Promise<T> {
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} within 10 s`)), 10_000).unref());
  return Promise.race([...promises, timeout]);
}

describe('inbox group commit (createInboxBatcher)', () => {
  it('events recorded together share one transaction, and each resolves with its own result', async () => {
    const batcher = createInboxBatcher({ sql });
    const results = await Promise.all([event(7001), event(7002), event(STRANGER)].map((e) => batcher.record(e)));
    expect(results.map(summary)).toEqual(['pending', 'pending', 'ignored:athlete_not_connected']);
    // One transaction wrote all three rows: they carry the same xmin.
    const rows = await db.sql<{ xmin: string }[]>`select xmin::text from webhook_events`;
    expect(rows).toHaveLength(3);
    expect(new Set(rows.map((row) => row.xmin)).size).toBe(1);
  });

  it('a repeat within one batch collapses into the first: one row, the repeat answered as a duplicate', async () => {
    const batcher = createInboxBatcher({ sql });
    const original = event(7001);
    const results = await Promise.all([original, { ...original }, event(7001), { ...original }].map((e) => batcher.record(e)));
    expect(results.map(summary)).toEqual(['pending', 'duplicate', 'pending', 'duplicate']);
    const [row] = await db.sql<{ count: number }[]>`select count(*)::int as count from webhook_events where object_id = ${original.objectId}`;
    expect(row!.count).toBe(1);
  });

  it('the per-athlete cap counts the pending rows and the events ahead in the same batch', async () => {
    const batcher = createInboxBatcher({ sql, record: { maxPendingPerAthlete: 3 } });
    await batcher.record(event(7001)); // one pending before the batch
    const results = await Promise.all([event(7001), event(7002), event(7001), event(7001), event(7001)].map((e) => batcher.record(e)));
    expect(results.map(summary)).toEqual(['pending', 'pending', 'pending', 'ignored:athlete_backlog_full', 'ignored:athlete_backlog_full']);
    const [row] = await db.sql<{ count: number }[]>`
      select count(*)::int as count from webhook_events where owner_id = 7001 and outcome = 'pending'`;
    expect(row!.count).toBe(3);
  });

  it('an event PostgreSQL refuses fails alone: the others of its batch are recorded', async () => {
    const batcher = createInboxBatcher({ sql });
    const settled = await Promise.allSettled([event(7001), refusedByPostgres(7001), event(7002)].map((e) => batcher.record(e)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(classifyDatabaseError((settled[1] as PromiseRejectedResult).reason)).toBe('bad_input');
    expect(settled.filter((s) => s.status === 'fulfilled').map((s) => summary((s as PromiseFulfilledResult<RecordResult>).value))).toEqual(['pending', 'pending']);
    const [row] = await db.sql<{ count: number }[]>`select count(*)::int as count from webhook_events`;
    expect(row!.count).toBe(2);
  });

  it('a connection killed mid-batch rejects every event of the batch as unreachable, and none of them is stored', async () => {
    const batcher = createInboxBatcher({ sql, maxInFlight: 1 });
    const lock = await blockInserts();
    const pending = [event(7001), event(7002), event(7001)].map((e) => batcher.record(e).then(() => 'resolved', (error: unknown) => error));
    try {
      await killWaitingBatch();
      const outcomes = await Promise.all(pending);
      for (const outcome of outcomes) {
        expect(outcome).not.toBe('resolved');
        expect(classifyDatabaseError(outcome)).toBe('unreachable');
      }
    } finally {
      await lock.release();
    }
    const [row] = await db.sql<{ count: number }[]>`select count(*)::int as count from webhook_events`;
    expect(row!.count).toBe(0);
    // The pool reconnects: the next batch records as usual.
    expect(summary(await batcher.record(event(7001)))).toBe('pending');
  });

  it('while a batch is in flight, newer events wait and go out together in the next one', async () => {
    const batcher = createInboxBatcher({ sql, maxInFlight: 1 });
    const lock = await blockInserts();
    const first = batcher.record(event(7001));
    await batchWaitingForLock();
    const later = [event(7001), event(7002), event(7002)].map((e) => batcher.record(e));
    await lock.release();
    await Promise.all([first, ...later]);
    const rows = await db.sql<{ xmin: string }[]>`select xmin::text from webhook_events order by id`;
    expect(rows.map((row) => row.xmin)).toEqual([rows[0]!.xmin, rows[1]!.xmin, rows[1]!.xmin, rows[1]!.xmin]);
    expect(rows[0]!.xmin).not.toBe(rows[1]!.xmin);
  });

  it('refuses at once beyond maxWaiting events waiting, and records the ones it took', async () => {
    const batcher = createInboxBatcher({ sql, maxInFlight: 1, maxWaiting: 2 });
    const lock = await blockInserts();
    let taken: Promise<RecordResult>[];
    let refused: unknown;
    try {
      const inFlight = batcher.record(event(7001));
      await batchWaitingForLock();
      taken = [inFlight, batcher.record(event(7002)), batcher.record(event(7001))];
      refused = await firstSettled([batcher.record(event(7002)).then(() => 'resolved', (error: unknown) => error)], 'no refusal');
    } finally {
      await lock.release();
    }
    expect(refused).toBeInstanceOf(InboxBusyError);
    expect((await Promise.all(taken)).map(summary)).toEqual(['pending', 'pending', 'pending']);
    const [row] = await db.sql<{ count: number }[]>`select count(*)::int as count from webhook_events`;
    expect(row!.count).toBe(3);
    // Room again once the queue drained.
    expect(summary(await batcher.record(event(7002)))).toBe('pending');
  });
});

describe('recordEvents', () => {
  let other: TestDatabase & { drop(): Promise<void> };
  beforeAll(async () => {
    other = await createTestDatabase();
    for (const id of CONNECTED) await upsertConnectedAthlete(other.sql, id, ['read', 'activity:read_all']);
  });
  afterAll(async () => {
    await other?.drop();
  });

  it('gives every event the result recordEvent gives it when the events are recorded one after another', async () => {
    const a = event(7001);
    const b = event(7002, { aspectType: 'update', updates: { title: 'digest-1' } });
    const events = [
      a, event(7001), { ...a }, event(STRANGER), b, { ...b }, { ...b, updates: { title: 'digest-2' } },
      event(7001), event(7001), event(7001, { subscriptionId: 1 }), { ...a }, event(7002),
    ];
    const options = { maxPendingPerAthlete: 3, ignoredSampleSize: 2 };
    // A stored subscription, so the subscription check takes part too; the sample's slots start at 0 in both.
    for (const s of [db.sql, other.sql]) {
      await s`insert into webhook_subscription (subscription_id, callback_url) values (131300, 'https://example.test/cb') on conflict do nothing`;
      await s`select setval('webhook_events_ignored_slot', 0, false)`;
    }
    const batched = await recordEvents(db.sql, events, options);
    const oneByOne: RecordResult[] = [];
    for (const e of events) oneByOne.push(await recordEvent(other.sql, e, options));
    const strip = (results: RecordResult[]) => results.map((r) => ({ ...r, id: undefined }));
    expect(strip(batched)).toEqual(strip(oneByOne));
    const stored = (s: Sql) => s`select object_id, owner_id, outcome, ignore_reason, ignored_slot from webhook_events order by id`;
    expect(await stored(db.sql)).toEqual(await stored(other.sql));
  });
});

/** The webhook receiver on its own port, with this test's pool. */
async function startReceiver(forwarder: EventForwarder, options: Pick<Parameters<typeof createWebhookRouter>[0], 'groupCommit' | 'recordTimeoutMs'>) {
  const app = express();
  app.use(createWebhookRouter({
    config: { STRAVA_WEBHOOK_VERIFY_TOKEN: 'verify', STRAVA_WEBHOOK_PATH_TOKEN: undefined, TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 7) },
    sql,
    forwarder,
    ...options,
  }));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/strava`;
  const post = (e: InboxEventInput) => fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      object_type: e.objectType, object_id: e.objectId, aspect_type: e.aspectType, owner_id: e.ownerId,
      subscription_id: e.subscriptionId, event_time: e.eventTime, updates: e.updates,
    }),
  });
  return { post, close: () => server.close() };
}

describe('the receiver with group commit', () => {
  it('answers no 200 for events whose batch lost its connection before commit', async () => {
    const forwarded: number[] = [];
    // Temporal is down as well: the direct signal fails, so the only possible 200 would be the inbox's.
    const forwarder: EventForwarder = {
      deliver: async () => { throw new Error('unused'); },
      deliverToRunning: async (signal) => {
        forwarded.push(signal.objectId);
        throw Object.assign(new Error('temporal down'), { code: 'UNAVAILABLE' });
      },
    };
    const receiver = await startReceiver(forwarder, { groupCommit: { maxInFlight: 1 } });
    const { post } = receiver;
    try {
      // A first event succeeds: the receiver now knows the stored subscription and may try the direct signal.
      expect((await post(event(7001))).status).toBe(200);
      const lock = await blockInserts();
      let statuses: number[];
      try {
        const responses = [event(7001), event(7002), event(7001)].map(post);
        await killWaitingBatch();
        statuses = (await Promise.all(responses)).map((response) => response.status);
      } finally {
        await lock.release();
      }
      expect(statuses).toEqual([503, 503, 503]);
      expect(forwarded).toHaveLength(3);
      const [row] = await db.sql<{ count: number }[]>`select count(*)::int as count from webhook_events`;
      expect(row!.count).toBe(1);
    } finally {
      receiver.close();
    }
  });

  it('answers 503 busy with Retry-After beyond the waiting cap, forwards nothing for it, and 200 for the events it took', async () => {
    const forwarded: number[] = [];
    const forwarder: EventForwarder = {
      deliver: async () => { throw new Error('unused'); },
      deliverToRunning: async (signal) => { forwarded.push(signal.objectId); },
    };
    const receiver = await startReceiver(forwarder, { groupCommit: { maxInFlight: 1, maxWaiting: 1 }, recordTimeoutMs: 30_000 });
    try {
      const events = [event(7001), event(7002), event(7001)];
      const lock = await blockInserts();
      let sent: Promise<Response>[];
      try {
        sent = [receiver.post(events[0]!)];
        await batchWaitingForLock();
        // One batch in flight; of the next two, whichever arrives second finds the one waiting slot taken.
        const next = [receiver.post(events[1]!), receiver.post(events[2]!)];
        sent.push(...next);
        await firstSettled(next, 'no answer while the batch held the lock');
      } finally {
        await lock.release();
      }
      const answers = await Promise.all(sent);
      expect(answers.map((response) => response.status).sort()).toEqual([200, 200, 503]);
      const busy = answers.find((response) => response.status === 503)!;
      expect(busy.headers.get('retry-after')).toBe('60');
      expect(await busy.json()).toMatchObject({ error: { code: 'busy' } });
      expect(forwarded).toEqual([]);
      // An earlier test's receiver may still be recording its own events: count this test's.
      const ids = events.map((e) => e.objectId);
      const [row] = await db.sql<{ count: number }[]>`select count(*)::int as count from webhook_events where object_id in ${db.sql(ids)}`;
      expect(row!.count).toBe(2);
    } finally {
      receiver.close();
    }
  });
});

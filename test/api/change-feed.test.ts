import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishChange, type AthleteChange } from '../../src/db/change-feed.js';
import { upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { changesAfter } from '../../src/db/repositories/change-log.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { ADMIN_KEY, startApi, uniqueAthleteId, type ApiHarness } from './helpers/api-harness.js';
import { openSse, type SseEvent } from './helpers/sse.js';

/**
 * Issue 13: the change log behind the SSE stream and GET /changes. Ids follow commit order (a reader polling
 * while writers commit out of order skips nothing), a stream resumes from Last-Event-ID with exactly what it
 * missed (also on another API instance), a gap beyond the retention is a reset, and the fleet feed hands out
 * every change once, in order, across an API restart. Real PostgreSQL and HTTP.
 */
const db = useTestDatabase();
const admin = { authorization: `Bearer ${ADMIN_KEY}` };

const changesOf = (events: SseEvent[]) => events.filter((e) => e.event === 'change').map((e) => ({ id: Number(e.id), ...(JSON.parse(e.data) as AthleteChange) }));

describe('change log and feed', () => {
  let dev: DevServerHandles;
  let api: ApiHarness;
  let athlete: number;
  let other: number;

  beforeAll(async () => {
    dev = await connectDevServer();
    api = await startApi({ db, dev, appOptions: { sseHeartbeatMs: 300 } });
    athlete = uniqueAthleteId();
    other = uniqueAthleteId();
    await upsertConnectedAthlete(db.sql, athlete, ['read']);
    await upsertConnectedAthlete(db.sql, other, ['read']);
  });
  afterAll(async () => {
    await api?.stop();
    await dev?.close();
  });

  const headId = async () => (await db.sql<{ head: number }[]>`select coalesce(max(id), 0)::int as head from change_log`)[0]!.head;
  const publish = (athleteId: number, count = 1) => publishChange(db.sql, { athleteId, kind: 'activities_upserted', activityIds: [count], count });

  it('ids follow commit order: a reader polling while transactions commit out of order misses none', async () => {
    const start = await headId();
    let cursor = start;
    const seen: number[] = [];
    let writing = true;
    const reader = (async () => {
      for (;;) {
        // Read once more after the last commit, then stop at the first empty answer.
        const finished = !writing;
        const batch = await changesAfter(db.sql, cursor, 100);
        for (const change of batch) seen.push(change.id!);
        if (batch.length) cursor = batch.at(-1)!.id!;
        if (finished && batch.length === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
    // Forty transactions, each holding its transaction open a random while after the change, committing in any order.
    const ids = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        db.sql.begin(async (tx) => {
          await new Promise((resolve) => setTimeout(resolve, (i * 7919) % 37));
          const id = await publishChange(tx, { athleteId: athlete, kind: 'athlete_state' });
          await new Promise((resolve) => setTimeout(resolve, (i * 104_729) % 23));
          return id;
        }),
      ),
    );
    writing = false;
    await reader;
    expect(seen).toEqual([...ids].sort((a, b) => a - b));
  });

  it('a fresh stream starts at the head (ready carries it as id), then streams changes with their ids, heartbeats between', async () => {
    const stream = await openSse(`${api.url}/athletes/${athlete}/events`, admin);
    expect(stream.status).toBe(200);
    const [ready] = await stream.until((events) => events.length >= 1);
    const head = Number(ready!.id);
    expect(ready).toMatchObject({ event: 'ready' });
    expect(JSON.parse(ready!.data)).toEqual({ athleteId: athlete, head });
    const published = [await publish(athlete, 1), await publish(other, 2), await publish(athlete, 3)];
    const events = await stream.until((all) => changesOf(all).length >= 2);
    expect(changesOf(events).map((c) => c.id)).toEqual([published[0], published[2]]);
    expect(changesOf(events).every((c) => c.athleteId === athlete && c.kind === 'activities_upserted')).toBe(true);
    await stream.until(() => stream.text().includes(': heartbeat'));
    stream.close();
  });

  it('resumes from Last-Event-ID (header or ?lastEventId=) with exactly the changes missed, on another API instance too', async () => {
    const first = await openSse(`${api.url}/athletes/${athlete}/events`, admin);
    const before = await publish(athlete);
    const events = await first.until((all) => changesOf(all).some((c) => c.id === before));
    const lastSeen = changesOf(events).at(-1)!.id;
    first.close();
    // Offline: the athlete's changes, another athlete's, and the API itself is replaced by a new instance.
    const missed = [await publish(athlete, 1), await publish(other, 1), await publish(athlete, 2)];
    const second = await startApi({ db, dev });
    try {
      const resumed = await openSse(`${second.url}/athletes/${athlete}/events`, { ...admin, 'last-event-id': String(lastSeen) });
      const after = await resumed.until((all) => changesOf(all).length >= 2);
      expect(after[0]).toMatchObject({ event: 'ready' });
      expect(after[0]!.id).toBeUndefined();
      expect(changesOf(after).map((c) => c.id)).toEqual([missed[0], missed[2]]);
      const live = await publish(athlete, 9);
      await resumed.until((all) => changesOf(all).some((c) => c.id === live));
      expect(changesOf(resumed.events).map((c) => c.id)).toEqual([missed[0], missed[2], live]);
      resumed.close();

      const byQuery = await openSse(`${second.url}/athletes/${athlete}/events?lastEventId=${missed[0]}`, admin);
      const queried = await byQuery.until((all) => changesOf(all).length >= 2);
      expect(changesOf(queried).map((c) => c.id)).toEqual([missed[2], live]);
      byQuery.close();
    } finally {
      await second.stop();
    }
  });

  it('a malformed Last-Event-ID is a 400, an id from another log a reset', async () => {
    const bad = await fetch(`${api.url}/athletes/${athlete}/events`, { headers: { ...admin, 'last-event-id': 'abc' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
    const future = await openSse(`${api.url}/athletes/${athlete}/events`, { ...admin, 'last-event-id': '999999999999' });
    const [, reset] = await future.until((all) => all.length >= 2);
    expect(reset).toMatchObject({ event: 'reset' });
    expect(JSON.parse(reset!.data)).toMatchObject({ athleteId: athlete, reason: 'unknown_event_id' });
    future.close();
  });

  describe('GET /changes', () => {
    it('needs the admin key; rejects malformed cursors', async () => {
      expect((await fetch(`${api.url}/changes`)).status).toBe(401);
      for (const query of ['after=-1', 'after=x', 'wait=31', 'limit=0', 'limit=1001']) {
        const response = await fetch(`${api.url}/changes?${query}`, { headers: admin });
        expect(response.status, query).toBe(400);
      }
    });

    it('hands out every change once, in order, paged, across an API restart', async () => {
      const head = await headId();
      const published = [await publish(athlete), await publish(other), await publish(athlete), await publish(other), await publish(athlete)];
      const received: number[] = [];
      let after = head;
      const page = async (base: string) => {
        const response = await fetch(`${base}/changes?after=${after}&limit=2`, { headers: admin });
        expect(response.status).toBe(200);
        const body = (await response.json()) as { changes: { id: number }[]; next: number; reset: boolean };
        expect(body.reset).toBe(false);
        received.push(...body.changes.map((c) => c.id));
        after = body.next;
        return body.changes.length;
      };
      await page(api.url);
      await page(api.url);
      // The API restarts (a new instance); the cursor is the log's, so the next instance continues from it.
      const later = [await publish(athlete), await publish(other)];
      const second = await startApi({ db, dev });
      try {
        while ((await page(second.url)) > 0);
      } finally {
        await second.stop();
      }
      expect(received).toEqual([...published, ...later]);
    });

    it('long polls: an empty answer after `wait`, or the change as soon as it is committed', async () => {
      const head = await headId();
      const started = Date.now();
      const empty = (await (await fetch(`${api.url}/changes?after=${head}&wait=1`, { headers: admin })).json()) as { changes: unknown[]; next: number };
      expect(empty).toEqual({ changes: [], next: head, reset: false });
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      const waiting = fetch(`${api.url}/changes?after=${head}&wait=25`, { headers: admin }).then((r) => r.json() as Promise<{ changes: { id: number }[] }>);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const publishedAt = Date.now();
      const id = await publish(other);
      const answer = await waiting;
      expect(answer.changes.map((c) => c.id)).toEqual([id]);
      expect(Date.now() - publishedAt).toBeLessThan(10_000);
    });
  });

  it('retention: old changes are pruned in batches; a cursor older than the retention gets a reset, never a silent gap', async () => {
    const old = await publish(athlete);
    const stream = await openSse(`${api.url}/athletes/${athlete}/events`, admin);
    await stream.until((all) => all.length >= 1);
    stream.close();
    const kept = await publish(athlete);
    // Everything but `kept` is older than the retention (7 days by default).
    await db.sql`update change_log set created_at = now() - interval '8 days' where id < ${kept}`;
    const pruned = await api.app.changeLogRetention.pruneOnce();
    expect(pruned).toBeGreaterThanOrEqual(1);
    expect(await db.sql`select 1 from change_log where id = ${old}`).toHaveLength(0);
    expect(await db.sql`select 1 from change_log where id = ${kept}`).toHaveLength(1);

    const resumed = await openSse(`${api.url}/athletes/${athlete}/events`, { ...admin, 'last-event-id': String(old - 1) });
    const [, reset] = await resumed.until((all) => all.length >= 2);
    expect(reset).toMatchObject({ event: 'reset', id: String(kept) });
    expect(JSON.parse(reset!.data)).toMatchObject({ reason: 'beyond_retention', head: kept });
    // After the reset the stream is live from the head: the next change arrives, nothing older.
    const next = await publish(athlete);
    await resumed.until((all) => changesOf(all).length >= 1);
    expect(changesOf(resumed.events).map((c) => c.id)).toEqual([next]);
    resumed.close();

    const feed = (await (await fetch(`${api.url}/changes?after=${old - 1}`, { headers: admin })).json()) as { reset: boolean; next: number };
    expect(feed).toEqual({ changes: [], next: next, reset: true });
    // A cursor at or after the horizon replays normally.
    const fine = (await (await fetch(`${api.url}/changes?after=${kept - 1}`, { headers: admin })).json()) as { reset: boolean; changes: { id: number }[] };
    expect(fine.reset).toBe(false);
    expect(fine.changes.map((c) => c.id)).toEqual([kept, next]);
  });
});

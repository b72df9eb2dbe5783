import { beforeEach, describe, expect, it } from 'vitest';
import { createInboxRetention } from '../../src/api/webhooks/inbox-retention.js';
import { inboxPruned } from '../../src/api/webhooks/metrics.js';
import { upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { listEvents, markForwarded, recordEvent } from '../../src/db/repositories/webhook-inbox.js';
import { titleDigest, toInboxInput, webhookEventSchema } from '../../src/api/webhooks/event-schema.js';

const digestTitle = titleDigest(Buffer.alloc(32, 1));
import { useTestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait-for.js';
import { event, uniqueAthleteIds } from './webhooks-fixtures/harness.js';

const db = useTestDatabase();
const DAY = 86_400_000;

/** Records one event for `owner` as received `ageDays` ago, optionally marked forwarded. */
async function recordAged(owner: number, ageDays: number, forwarded: boolean): Promise<number> {
  const recorded = await recordEvent(db.sql, toInboxInput(webhookEventSchema.parse(event({ owner_id: owner })), digestTitle));
  if (recorded.kind !== 'recorded') throw new Error('expected a new row');
  if (forwarded) await markForwarded(db.sql, [recorded.id]);
  await db.sql`update webhook_events set received_at = now() - make_interval(secs => ${ageDays * 86_400}) where id = ${recorded.id}`;
  return recorded.id;
}

describe('webhook inbox retention', () => {
  // Pruning relies on ids growing with arrival; backdated rows left by an earlier test would break that here.
  beforeEach(async () => {
    await db.sql`delete from webhook_events`;
  });

  it('deletes forwarded and ignored rows past the retention, batch by batch, and never a pending row', async () => {
    const [owner, stranger] = uniqueAthleteIds(2) as [number, number];
    await upsertConnectedAthlete(db.sql, owner, ['read', 'activity:read_all']);
    const oldForwarded: number[] = [];
    for (let i = 0; i < 7; i++) oldForwarded.push(await recordAged(owner, 20, true));
    const oldIgnored = await recordAged(stranger, 20, false); // not connected: recorded as ignored
    const oldPending = await recordAged(owner, 30, false);
    const recentForwarded = await recordAged(owner, 2, true);
    const recentPending = await recordAged(owner, 1, false);

    const prunedBefore = (await inboxPruned.get()).values[0]?.value ?? 0;
    const retention = createInboxRetention({ sql: db.sql, retentionMs: 14 * DAY, batchSize: 3 });
    expect(await retention.pruneOnce()).toBe(8);

    const left = [...(await listEvents(db.sql, { ownerId: owner })), ...(await listEvents(db.sql, { ownerId: stranger }))];
    expect(left.map((row) => row.id).sort((a, b) => a - b)).toEqual([oldPending, recentForwarded, recentPending].sort((a, b) => a - b));
    expect(left.find((row) => row.id === oldPending)?.outcome).toBe('pending');
    expect(left.some((row) => row.id === oldIgnored || oldForwarded.includes(row.id))).toBe(false);
    expect(((await inboxPruned.get()).values[0]?.value ?? 0) - prunedBefore).toBe(8);

    // Caught up: nothing more to delete, and a second instance pruning at the same time is harmless.
    const other = createInboxRetention({ sql: db.sql, retentionMs: 14 * DAY });
    expect(await Promise.all([retention.pruneOnce(), other.pruneOnce()])).toEqual([0, 0]);
  });

  it('prunes at once when started, not only after the first interval', async () => {
    const [owner] = uniqueAthleteIds(1) as [number];
    await upsertConnectedAthlete(db.sql, owner, ['read', 'activity:read_all']);
    await recordAged(owner, 20, true);
    // An hour-long interval: within this test only the prune of start() itself can remove the row.
    const retention = createInboxRetention({ sql: db.sql, retentionMs: 7 * DAY, intervalMs: 3_600_000 });
    retention.start();
    try {
      await waitFor(() => listEvents(db.sql, { ownerId: owner }), (rows) => rows.length === 0, { timeoutMs: 3_000, what: 'the prune of start()' });
    } finally {
      await retention.stop();
    }
  });

  it('then prunes on its interval, keeping rows inside the retention, and stops cleanly', async () => {
    const [owner] = uniqueAthleteIds(1) as [number];
    await upsertConnectedAthlete(db.sql, owner, ['read', 'activity:read_all']);
    const old = await recordAged(owner, 20, true);
    const recent = await recordAged(owner, 0, true);
    let clock = Date.now();
    const retention = createInboxRetention({ sql: db.sql, retentionMs: 7 * DAY, intervalMs: 100, now: () => clock });
    retention.start();
    // The old row going is the proof a prune ran; the recent one, inside a 7-day retention, stayed.
    const afterFirst = await waitFor(() => listEvents(db.sql, { ownerId: owner }), (rows) => !rows.some((row) => row.id === old), {
      timeoutMs: 3_000,
      what: 'the first prune',
    });
    expect(afterFirst.map((row) => row.id)).toEqual([recent]);
    // Eight days later (on the retention's clock) the next interval removes it.
    clock += 8 * DAY;
    await waitFor(() => listEvents(db.sql, { ownerId: owner }), (rows) => rows.length === 0, { timeoutMs: 3_000, what: 'a prune on the interval' });
    await retention.stop();
  });
});

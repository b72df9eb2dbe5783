import { afterEach, describe, expect, it } from 'vitest';
import { titleDigest, toInboxInput, webhookEventSchema } from '../../src/api/webhooks/event-schema.js';
import { createInboxRelay, type InboxRelay } from '../../src/api/webhooks/relay.js';
import { createSql, type Sql } from '../../src/db/connection.js';
import { upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { countByOutcome, recordEvent } from '../../src/db/repositories/webhook-inbox.js';
import type { StravaEventSignal } from '../../src/domain/sync-types.js';
import { useTestDatabase } from '../helpers/database.js';
import { proxiedUrl, startDatabaseProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { event, uniqueAthleteIds, waitFor } from '../api/webhooks-fixtures/harness.js';

const db = useTestDatabase();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A connection that drops while a transaction holds it. postgres.js 3.4.9 as published either throws from a
 * setImmediate (the process dies) or, with that throw absorbed, leaves the transaction's next query unanswered
 * forever and its connection unable to reconnect (its buffered ROLLBACK prefixes every later startup message:
 * CONNECT_TIMEOUT). patches/postgres+3.4.9.patch makes such writes reject with CONNECTION_CLOSED; the chaos test
 * found it as webhook rows left pending by a relay stuck in its transaction after a PostgreSQL outage.
 */
describe('PostgreSQL connection lost in the middle of a transaction', () => {
  let proxy: TcpProxy | undefined;
  let sql: Sql | undefined;
  let relay: InboxRelay | undefined;

  afterEach(async () => {
    await relay?.stop();
    await sql?.end({ timeout: 1 });
    await proxy?.stop();
    relay = sql = proxy = undefined;
  });

  async function proxiedSql(max: number): Promise<{ proxy: TcpProxy; sql: Sql }> {
    proxy = await startDatabaseProxy(db.url);
    sql = createSql(proxiedUrl(db.url, proxy), { max, applicationName: 'connection-loss-test' });
    await sql`select 1`;
    return { proxy, sql };
  }

  it("rejects the transaction's next query after the drop, and the same pool connection serves again", async () => {
    const { proxy, sql } = await proxiedSql(1);
    const afterDrop: Promise<unknown>[] = [];
    const transaction = sql.begin(async (tx) => {
      await tx`select 1`;
      // Other work (a Temporal signal, say) while the connection goes away.
      await proxy.stop();
      await sleep(200);
      const next = tx`select 2`;
      afterDrop.push(next);
      await next;
    });
    await expect(transaction).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
    await sleep(300);
    expect(afterDrop).toHaveLength(1);
    await expect(afterDrop[0]).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });

    await proxy.start();
    // One connection in the pool: it must be the dropped one, reconnected.
    expect(await sql`select 42 as answer`).toEqual([{ answer: 42 }]);
  });

  it('recovers the connection whose query was in flight (the driver then sends its own ROLLBACK into the void)', async () => {
    const { proxy, sql } = await proxiedSql(1);
    const transaction = sql.begin(async (tx) => {
      await tx`select pg_sleep(5)`;
    });
    await sleep(300);
    await proxy.stop();
    await expect(transaction).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
    await sleep(200);
    await proxy.start();
    expect(await sql`select 7 as answer`).toEqual([{ answer: 7 }]);
  });

  it('the webhook relay forwards every row after PostgreSQL dropped between the signals and their commit', async () => {
    const owners = uniqueAthleteIds(3);
    for (const owner of owners) await upsertConnectedAthlete(db.sql, owner, ['read', 'activity:read_all']);
    const digestTitle = titleDigest(Buffer.alloc(32, 1));
    for (const [i, owner] of owners.entries()) {
      for (let n = 0; n < 4; n++) {
        await recordEvent(db.sql, toInboxInput(webhookEventSchema.parse(event({ owner_id: owner, object_id: 9_100_000 + i * 10 + n })), digestTitle));
      }
    }
    const { proxy } = await proxiedSql(4);
    const delivered: StravaEventSignal[] = [];
    let dropped = false;
    const forwarder = {
      async deliver(signal: StravaEventSignal) {
        // The first signal reaches Temporal, then the database goes away before the batch is marked forwarded.
        if (!dropped) {
          dropped = true;
          await proxy.stop();
          setTimeout(() => void proxy.start(), 1_000);
        }
        delivered.push(signal);
      },
      async deliverToRunning(signal: StravaEventSignal) {
        delivered.push(signal);
      },
    };
    relay = createInboxRelay({ sql: sql!, forwarder, minBackoffMs: 100, maxBackoffMs: 500, idlePollMs: 100 });
    relay.start();
    const counts = await waitFor(() => countByOutcome(db.sql), (c) => c.pending === 0, 20_000);
    expect(dropped).toBe(true);
    expect(counts).toMatchObject({ pending: 0, forwarded: 12 });
    // At least once: the batch whose commit was lost goes out again.
    const objectIds = new Set(delivered.map((signal) => signal.objectId));
    expect(objectIds.size).toBe(12);
  });
});

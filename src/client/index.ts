import { openEventStream, type EventStream, type EventStreamOptions } from './event-stream.js';
import { createTransport, StravaSyncError, type ClientOptions } from './transport.js';
import type {
  Accepted,
  Activity,
  ActivityPage,
  ActivityQuery,
  AthleteStatus,
  ChangesPage,
  ClientAbility,
  ClientToken,
  ResyncAccepted,
  SyncDone,
  SyncPending,
  SyncResult,
} from './types.js';

/**
 * `strava-sync/client`: a small typed client for apps. In the athlete's browser or phone it runs with a client
 * token (abilities read, focus, sync, events); on the app's backend with the admin key, which also mints those
 * tokens and follows the fleet-wide change feed. Types come from the API's zod schemas (types.ts).
 */

export { StravaSyncError, type ClientOptions } from './transport.js';
export type { EventStream, EventStreamHandlers, EventStreamOptions } from './event-stream.js';
export { createSseParser, type SseEvent } from './sse-parser.js';
export type * from './types.js';

export interface SyncNowOptions {
  /** Pause between outcome polls while the sync runs on (ms, default 1000). */
  pollIntervalMs?: number;
  /** Give up polling after this long (ms, default 5 minutes); the sync itself goes on in the workflow. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface FollowChangesOptions {
  /** Start after this change id (the `next` kept from last time); absent: from the start of the retained log. */
  after?: number;
  /** Called with each non-empty batch, in order; the cursor moves on once it resolves. */
  onChanges(changes: ChangesPage['changes'], next: number): void | Promise<void>;
  /** The cursor is beyond the retention: refetch everything, the feed carries on from the head. */
  onReset?(next: number): void | Promise<void>;
  onError?(error: unknown): void;
  /** Long poll length (s, default 25). */
  waitSeconds?: number;
  signal?: AbortSignal;
}

const toQuery = (query: Record<string, string | number | undefined>): string => {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : '';
};
const instant = (value: Date | string | undefined) => (value instanceof Date ? value.toISOString() : value);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createStravaSyncClient(options: ClientOptions) {
  const http = createTransport(options);
  const athletePath = (athleteId: number, rest = '') => `/athletes/${encodeURIComponent(String(athleteId))}${rest}`;

  async function activityPage(athleteId: number, query: ActivityQuery & { cursor?: string } = {}): Promise<ActivityPage> {
    const { limit, cursor, include } = query;
    const search = toQuery({ limit, cursor, include, after: instant(query.after), before: instant(query.before) });
    return (await http.json<ActivityPage>('GET', athletePath(athleteId, `/activities${search}`))).body;
  }

  async function changes(query: { after?: number; wait?: number; limit?: number; signal?: AbortSignal } = {}): Promise<ChangesPage> {
    const { signal, ...rest } = query;
    return (await http.json<ChangesPage>('GET', `/changes${toQuery(rest)}`, { ...(signal ? { signal } : {}) })).body;
  }

  return {
    /** Sync status (ability read). */
    async status(athleteId: number): Promise<AthleteStatus> {
      return (await http.json<AthleteStatus>('GET', athletePath(athleteId))).body;
    },

    /** One page of synced activities, newest first (ability read); pass the page's nextCursor for the next. */
    activityPage,

    /** Every synced activity matching the query, newest first, following the cursor page by page (ability read). */
    async *activities(athleteId: number, query: ActivityQuery = {}): AsyncGenerator<Activity, void, undefined> {
      let cursor: string | undefined;
      do {
        const page = await activityPage(athleteId, { ...query, ...(cursor ? { cursor } : {}) });
        yield* page.activities;
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
    },

    /** The app came to the foreground: the workflow syncs if the last sync is stale (ability focus). */
    async focus(athleteId: number): Promise<Accepted> {
      return (await http.json<Accepted>('POST', athletePath(athleteId, '/focus'))).body;
    },

    /**
     * Sync now (ability sync): the result, whether the API answers at once (200) or with 202 and an outcome URL,
     * which is polled until the sync is done. A sync the workflow refuses is a StravaSyncError (409 sync_failed).
     */
    async syncNow(athleteId: number, sync: SyncNowOptions = {}): Promise<SyncResult> {
      const deadline = Date.now() + (sync.timeoutMs ?? 300_000);
      let answer = (await http.json<SyncDone | SyncPending>('POST', athletePath(athleteId, '/sync'), { ...(sync.signal ? { signal: sync.signal } : {}) })).body;
      while (answer.status === 'pending') {
        if (Date.now() > deadline) throw new StravaSyncError(504, 'sync_pending', `sync ${answer.syncId} still running after ${sync.timeoutMs ?? 300_000} ms`);
        sync.signal?.throwIfAborted();
        await sleep(sync.pollIntervalMs ?? 1_000);
        answer = (await http.json<SyncDone | SyncPending>('GET', answer.outcomeUrl, { ...(sync.signal ? { signal: sync.signal } : {}) })).body;
      }
      return answer.result;
    },

    /**
     * Range re-sync of one window (ability sync): queued in the workflow; its progress and result show in
     * status(id).workflow.live (resync, lastResync). A StravaSyncError 429 carries the earliest time in its message.
     */
    async resync(athleteId: number, window: { after: Date | string | number; before: Date | string | number }): Promise<ResyncAccepted> {
      const at = (value: Date | string | number) => (value instanceof Date ? value.toISOString() : value);
      return (await http.json<ResyncAccepted>('POST', athletePath(athleteId, '/resync'), { body: { after: at(window.after), before: at(window.before) } })).body;
    },

    /** The athlete's change stream, resuming by itself from the last event id (ability events). */
    events(athleteId: number, handlers: EventStreamOptions): EventStream {
      return openEventStream(http, athleteId, handlers);
    },

    /** Backend (admin key): a client token for one athlete's device. */
    async mintClientToken(athleteId: number, request: { abilities: ClientAbility[]; ttlSeconds?: number }): Promise<ClientToken> {
      return (await http.json<ClientToken>('POST', athletePath(athleteId, '/client-tokens'), { body: request })).body;
    },

    /** Backend (admin key): one call of the fleet-wide feed (a long poll with `wait`, in seconds). */
    changes,

    /**
     * Backend (admin key): follows the fleet-wide feed with long polls until the signal aborts, handing every
     * change to onChanges exactly once, in order. Resolves with the cursor to keep for next time.
     */
    async followChanges(follow: FollowChangesOptions): Promise<number> {
      let after = follow.after ?? 0;
      while (!follow.signal?.aborted) {
        try {
          const page = await changes({ after, wait: follow.waitSeconds ?? 25, ...(follow.signal ? { signal: follow.signal } : {}) });
          if (page.reset) await follow.onReset?.(page.next);
          else if (page.changes.length > 0) await follow.onChanges(page.changes, page.next);
          after = page.next;
        } catch (error) {
          if (follow.signal?.aborted) break;
          follow.onError?.(error);
          if (error instanceof StravaSyncError && error.status >= 400 && error.status < 500) throw error;
          await sleep(1_000);
        }
      }
      return after;
    },
  };
}

export type StravaSyncClient = ReturnType<typeof createStravaSyncClient>;

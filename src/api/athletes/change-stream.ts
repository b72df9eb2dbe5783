import type { Response } from 'express';
import type { Logger } from 'pino';
import type { Sql } from '../../db/connection.js';
import { listenChanges, type AthleteChange } from '../../db/change-feed.js';
import { athleteChangesAfter, changeLogBounds } from '../../db/repositories/change-log.js';

/**
 * Server-sent events for athlete changes. One LISTEN connection per process (opened with the first subscriber)
 * fans out to every open stream of the athlete concerned, and wakes the fleet feed's long polls. Every change
 * carries its change_log id as the SSE `id:`, so a client that reconnects with Last-Event-ID gets exactly what it
 * missed from the log, or `event: reset` when that lies beyond the retention; each stream gets a heartbeat comment
 * so proxies keep it open and clients notice a dead connection.
 */

/** Rows read per query while replaying a backlog. */
const REPLAY_BATCH = 500;

interface Stream {
  res: Response;
  /** The largest change id this stream has sent (or deliberately skipped): live changes at or below it are old. */
  cursor: number;
  /** Live changes that arrived while the backlog was read; null once the stream is live. */
  pending: AthleteChange[] | null;
}

const frame = (event: string, data: unknown, id?: number): string => `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

export class ChangeStreams {
  private readonly streams = new Map<number, Set<Stream>>();
  private readonly waiters = new Set<() => void>();
  private listening: Promise<() => Promise<void>> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly sql: Sql,
    private readonly logger: Logger,
    private readonly heartbeatMs: number,
  ) {}

  /** The server is stopping: long polls answer now instead of waiting. */
  get closing(): boolean {
    return this.closed;
  }

  get size(): number {
    let total = 0;
    for (const set of this.streams.values()) total += set.size;
    return total;
  }

  /** Makes sure the LISTEN is active; resolves once notifications will be delivered. */
  async ready(): Promise<void> {
    this.listening ??= listenChanges(this.sql, (change) => this.deliver(change)).catch((error: unknown) => {
      this.listening = undefined;
      throw error;
    });
    await this.listening;
  }

  /**
   * Turns res into an event stream for one athlete until the client goes away or the server stops. `resumeFrom`
   * is the last change id the client saw (Last-Event-ID): the stream first replays what came after it.
   */
  async open(athleteId: number, res: Response, resumeFrom?: number): Promise<void> {
    if (this.closed) throw new Error('server is shutting down');
    await this.ready();
    // Registered before the log is read, so no change falls between the replay and the live feed.
    const stream: Stream = { res, cursor: 0, pending: [] };
    let set = this.streams.get(athleteId);
    if (!set) this.streams.set(athleteId, (set = new Set()));
    set.add(stream);
    res.on('close', () => {
      set.delete(stream);
      if (set.size === 0 && this.streams.get(athleteId) === set) this.streams.delete(athleteId);
    });
    try {
      const { head, prunedThrough } = await changeLogBounds(this.sql);
      res.status(200).set({
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-cache, no-transform',
        Connection: 'keep-alive',
        'X-Accel-Buffering': 'no',
      });
      res.flushHeaders();
      // `retry` tells EventSource how long to wait before reconnecting. A fresh stream starts at the head, and
      // says so with an id, so even a client that saw no change yet resumes from here after a disconnect.
      if (resumeFrom === undefined) {
        stream.cursor = head;
        res.write(`retry: 3000\n${frame('ready', { athleteId, head }, head)}`);
      } else if (resumeFrom < prunedThrough || resumeFrom > head) {
        // Changes after the client's id were pruned (or the id is not from this log): it must refetch everything.
        stream.cursor = head;
        res.write(`retry: 3000\n${frame('ready', { athleteId, head })}`);
        res.write(frame('reset', { athleteId, head, reason: resumeFrom > head ? 'unknown_event_id' : 'beyond_retention' }, head));
      } else {
        stream.cursor = resumeFrom;
        res.write(`retry: 3000\n${frame('ready', { athleteId, head, resumedFrom: resumeFrom })}`);
        for (;;) {
          const batch = await athleteChangesAfter(this.sql, athleteId, stream.cursor, REPLAY_BATCH);
          for (const change of batch) this.send(stream, change);
          if (batch.length < REPLAY_BATCH) break;
        }
      }
    } catch (error) {
      set.delete(stream);
      throw error;
    }
    for (const change of stream.pending ?? []) this.send(stream, change);
    stream.pending = null;
    this.startHeartbeat();
  }

  /**
   * Resolves at the next change of any athlete, after timeoutMs, when signal aborts, or when the server stops
   * (the fleet feed's long poll). Register before reading the log, so a change between the two is not missed.
   */
  nextChange(timeoutMs: number, signal?: AbortSignal): { done: Promise<void>; cancel(): void } {
    let wake!: () => void;
    const done = new Promise<void>((resolve) => (wake = resolve));
    const timer = setTimeout(() => finish(), timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      this.waiters.delete(finish);
      signal?.removeEventListener('abort', finish);
      wake();
    };
    if (this.closed || signal?.aborted) finish();
    else {
      this.waiters.add(finish);
      signal?.addEventListener('abort', finish);
    }
    return { done, cancel: finish };
  }

  private send(stream: Stream, change: AthleteChange): void {
    // A publisher from before the change log sends no id: pass it on, it cannot be replayed anyway.
    if (change.id === undefined) {
      stream.res.write(frame('change', change));
      return;
    }
    if (change.id <= stream.cursor) return;
    stream.cursor = change.id;
    stream.res.write(frame('change', change, change.id));
  }

  private deliver(change: AthleteChange): void {
    for (const wake of [...this.waiters]) wake();
    const set = this.streams.get(change.athleteId);
    if (!set) return;
    for (const stream of set) {
      if (stream.pending) stream.pending.push(change);
      else this.send(stream, change);
    }
  }

  private startHeartbeat(): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => {
      for (const set of this.streams.values()) {
        for (const stream of set) if (!stream.pending) stream.res.write(`: heartbeat ${new Date().toISOString()}\n\n`);
      }
    }, this.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Shutdown: tells every client the stream is over, ends the responses, wakes long polls and stops listening. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const wake of [...this.waiters]) wake();
    for (const set of this.streams.values()) {
      for (const stream of set) {
        stream.res.write('event: shutdown\ndata: {}\n\n');
        stream.res.end();
      }
    }
    this.streams.clear();
    const listening = this.listening;
    this.listening = undefined;
    if (listening) {
      try {
        await (await listening)();
      } catch (error) {
        this.logger.warn({ err: error }, 'unlisten failed');
      }
    }
  }
}

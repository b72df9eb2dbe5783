import type { Response } from 'express';
import type { Logger } from 'pino';
import type { Sql } from '../../db/connection.js';
import { listenChanges, type AthleteChange } from '../../db/change-feed.js';

/**
 * Server-sent events for athlete changes. One LISTEN connection per process (opened with the first
 * subscriber) fans out to every open stream of the athlete concerned; each stream gets a heartbeat comment so
 * proxies keep it open and clients notice a dead connection.
 */
export class ChangeStreams {
  private readonly streams = new Map<number, Set<Response>>();
  private listening: Promise<() => Promise<void>> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private closed = false;
  private nextEventId = 1;

  constructor(
    private readonly sql: Sql,
    private readonly logger: Logger,
    private readonly heartbeatMs: number,
  ) {}

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

  /** Turns res into an event stream for one athlete until the client goes away or the server stops. */
  async open(athleteId: number, res: Response): Promise<void> {
    if (this.closed) throw new Error('server is shutting down');
    await this.ready();
    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    // Tells EventSource how long to wait before reconnecting, and the client that the stream is live.
    res.write(`retry: 3000\nevent: ready\ndata: ${JSON.stringify({ athleteId })}\n\n`);
    let set = this.streams.get(athleteId);
    if (!set) this.streams.set(athleteId, (set = new Set()));
    set.add(res);
    this.startHeartbeat();
    res.on('close', () => {
      set.delete(res);
      if (set.size === 0) this.streams.delete(athleteId);
    });
  }

  private deliver(change: AthleteChange): void {
    const set = this.streams.get(change.athleteId);
    if (!set) return;
    const frame = `id: ${this.nextEventId++}\nevent: change\ndata: ${JSON.stringify(change)}\n\n`;
    for (const res of set) res.write(frame);
  }

  private startHeartbeat(): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => {
      for (const set of this.streams.values()) for (const res of set) res.write(`: heartbeat ${new Date().toISOString()}\n\n`);
    }, this.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Shutdown: tells every client the stream is over, ends the responses and stops listening. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const set of this.streams.values()) {
      for (const res of set) {
        res.write('event: shutdown\ndata: {}\n\n');
        res.end();
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

import { createSseParser } from './sse-parser.js';
import { StravaSyncError, type Transport } from './transport.js';
import type { Change } from './types.js';

/**
 * An athlete's change stream (GET /athletes/:id/events) that resumes by itself: every reconnect sends the last
 * event id seen as Last-Event-ID, so the server replays exactly what was missed (or says `reset` when the gap is
 * beyond its retention). Read over fetch, so a client token travels in the Authorization header (never in a URL)
 * and it runs the same in browsers and Node.
 */

export interface EventStreamHandlers {
  /** A change of the athlete's data, in order, each once (as long as the stream is open). */
  onChange(change: Change): void;
  /** The server cannot replay the gap: refetch everything this app caches for the athlete. */
  onReset?(info: { head: number; reason: string }): void;
  /** The stream is (re)connected. */
  onOpen?(info: { resumedFrom?: number }): void;
  /** A connection failed or ended; the stream reconnects unless the error is final (a 4xx). */
  onError?(error: unknown): void;
}

export interface EventStreamOptions extends EventStreamHandlers {
  /** Resume after this change id (e.g. kept from a previous session). */
  lastEventId?: number;
  /** Delay before reconnecting (ms); by default what the server asks for (`retry:`), else 3000. */
  retryMs?: number;
  signal?: AbortSignal;
}

export interface EventStream {
  /** The last change id received (what the next reconnect resumes from). */
  readonly lastEventId: number | undefined;
  /** Settles when the stream stops: resolved after close(), rejected with a StravaSyncError on a final 4xx. */
  readonly done: Promise<void>;
  close(): void;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });

export function openEventStream(transport: Transport, athleteId: number, options: EventStreamOptions): EventStream {
  const abort = new AbortController();
  options.signal?.addEventListener('abort', () => abort.abort());
  let lastEventId = options.lastEventId;
  let serverRetryMs: number | undefined;

  async function connectOnce(): Promise<void> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (lastEventId !== undefined) headers['last-event-id'] = String(lastEventId);
    const response = await transport.raw('GET', `/athletes/${athleteId}/events`, { headers, signal: abort.signal });
    if (!response.ok || !response.body) throw await StravaSyncError.from(response);
    options.onOpen?.(lastEventId !== undefined ? { resumedFrom: lastEventId } : {});
    const parse = createSseParser();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        for (const event of parse(value)) {
          if (event.retry !== undefined) serverRetryMs = event.retry;
          if (event.id !== undefined && /^\d+$/.test(event.id)) lastEventId = Number(event.id);
          if (event.event === 'change') options.onChange(JSON.parse(event.data) as Change);
          else if (event.event === 'reset') options.onReset?.(JSON.parse(event.data) as { head: number; reason: string });
          else if (event.event === 'shutdown') return;
        }
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  const done = (async () => {
    while (!abort.signal.aborted) {
      try {
        await connectOnce();
      } catch (error) {
        if (abort.signal.aborted) break;
        options.onError?.(error);
        // A refusal (bad token, unknown athlete) will not heal by retrying; 408/429 and 5xx may.
        if (error instanceof StravaSyncError && error.status >= 400 && error.status < 500 && error.status !== 408 && error.status !== 429) throw error;
      }
      if (abort.signal.aborted) break;
      await sleep(options.retryMs ?? serverRetryMs ?? 3_000, abort.signal);
    }
  })();
  done.catch(() => {});

  return {
    get lastEventId() {
      return lastEventId;
    },
    done,
    close: () => abort.abort(),
  };
}

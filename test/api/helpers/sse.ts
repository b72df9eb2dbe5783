/**
 * Reads a server-sent event stream over fetch, frame by frame, the way EventSource parses it (id, event, data,
 * comments ignored), so a test can wait for a given event and look at everything received.
 */
export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

export interface SseReader {
  status: number;
  events: SseEvent[];
  /** Raw text received so far (heartbeat comments included). */
  text(): string;
  /** Waits until `done` holds for the events received so far (or throws after timeoutMs, showing them). */
  until(done: (events: SseEvent[]) => boolean, timeoutMs?: number): Promise<SseEvent[]>;
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const abort = new AbortController();
  const response = await fetch(url, { headers, signal: abort.signal });
  const events: SseEvent[] = [];
  let raw = '';
  let buffer = '';
  let ended = false;
  const waiters = new Set<() => void>();
  const pump = async () => {
    if (!response.body) return;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        raw += value;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event: SseEvent = { event: 'message', data: '' };
          const data: string[] = [];
          let fields = 0;
          for (const line of block.split('\n')) {
            if (line.startsWith(':') || line === '') continue;
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'id') event.id = text;
            else if (field === 'event') event.event = text;
            else if (field === 'data') data.push(text);
            else continue;
            fields++;
          }
          if (fields === 0 || (data.length === 0 && event.event === 'message')) continue;
          event.data = data.join('\n');
          events.push(event);
        }
        for (const wake of waiters) wake();
      }
    } catch {
      // aborted
    } finally {
      ended = true;
      for (const wake of waiters) wake();
    }
  };
  void pump();
  return {
    status: response.status,
    events,
    text: () => raw,
    async until(done, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!done(events)) {
        if (ended) throw new Error(`stream ended before the condition held; events: ${JSON.stringify(events)}`);
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw new Error(`condition not met within ${timeoutMs} ms; events: ${JSON.stringify(events)}`);
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(wake, remaining);
          waiters.add(wake);
        });
      }
      return events;
    },
    close: () => abort.abort(),
  };
}

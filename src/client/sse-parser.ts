/**
 * The server-sent events wire format (the WHATWG parsing rules EventSource follows), as a pure incremental parser:
 * feed it text as it arrives, get complete events back. No DOM or Node API, so it runs in browsers and Node alike.
 */
export interface SseEvent {
  event: string;
  data: string;
  /** The `id:` field of this event, if it had one. */
  id?: string;
  /** A `retry:` field: the reconnection delay the server asks for (ms). */
  retry?: number;
}

export function createSseParser(): (chunk: string) => SseEvent[] {
  let buffer = '';
  let event: { event?: string; data: string[]; id?: string; retry?: number } = { data: [] };
  return (chunk) => {
    buffer += chunk;
    const out: SseEvent[] = [];
    let newline: number;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      // A lone CR at the end may be the first half of a CRLF split across chunks: wait for the next one.
      if (buffer[newline] === '\r' && newline === buffer.length - 1) break;
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
      if (line === '') {
        if (event.data.length > 0 || event.id !== undefined || event.retry !== undefined) {
          out.push({
            event: event.event || 'message',
            data: event.data.join('\n'),
            ...(event.id !== undefined ? { id: event.id } : {}),
            ...(event.retry !== undefined ? { retry: event.retry } : {}),
          });
        }
        event = { data: [] };
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event.event = value;
      else if (field === 'data') event.data.push(value);
      else if (field === 'id' && !value.includes('\0')) event.id = value;
      else if (field === 'retry' && /^\d+$/.test(value)) event.retry = Number(value);
    }
    return out;
  };
}

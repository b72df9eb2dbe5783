import { describe, expect, it } from 'vitest';
import { createSseParser } from '../../src/client/sse-parser.js';

/** The typed client's server-sent events parser (the rules EventSource follows), fed the way a network delivers. */
describe('createSseParser', () => {
  it('parses events with ids, names, retry and multi-line data; comments and blank lines between are ignored', () => {
    const parse = createSseParser();
    const text = 'retry: 3000\nid: 7\nevent: ready\ndata: {"head":7}\n\n: heartbeat 2026\n\nid: 8\nevent: change\ndata: line one\ndata: line two\n\ndata: plain\n\n';
    expect(parse(text)).toEqual([
      { event: 'ready', data: '{"head":7}', id: '7', retry: 3000 },
      { event: 'change', data: 'line one\nline two', id: '8' },
      { event: 'message', data: 'plain' },
    ]);
  });

  it('gives the same events whatever the chunking, CRLF split across chunks included', () => {
    const text = 'id: 1\r\nevent: change\r\ndata: {"a":1}\r\n\r\nid: 2\r\nevent: change\r\ndata: {"a":2}\r\n\r\n';
    const whole = createSseParser()(text);
    expect(whole.map((e) => e.id)).toEqual(['1', '2']);
    for (let size = 1; size <= 7; size++) {
      const parse = createSseParser();
      const events = [];
      for (let i = 0; i < text.length; i += size) events.push(...parse(text.slice(i, i + size)));
      expect(events, `chunks of ${size}`).toEqual(whole);
    }
  });

  it('keeps an unfinished event for the next chunk and ignores unknown fields and a bad retry', () => {
    const parse = createSseParser();
    expect(parse('id: 3\nevent: change\nfoo: bar\nretry: soon\ndata: {')).toEqual([]);
    expect(parse('}\n\n')).toEqual([{ event: 'change', data: '{}', id: '3' }]);
  });
});

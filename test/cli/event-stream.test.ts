import { describe, expect, it } from 'vitest';
import { SseParser } from '../../src/cli/event-stream.js';

// The CLI's Server-Sent Events parser, against the HTML standard's rules, fed the way a socket
// delivers text: in arbitrary pieces.

describe('SseParser', () => {
  it('dispatches on a blank line, joins data lines, keeps the last id, skips comments, whatever the line ends and the pieces', () => {
    const text = ': heartbeat\r\n\r\nid: 1-0\r\nevent: audit\r\ndata: {"a":\r\ndata: 1}\r\n\r\nid: 1-2\revent: log\rdata:no space\r\rdata: plain\n\n';
    for (const size of [1, 2, 3, 7, text.length]) {
      const parser = new SseParser();
      const messages = [];
      for (let i = 0; i < text.length; i += size) messages.push(...parser.push(text.slice(i, i + size)));
      expect(messages, `pieces of ${size}`).toEqual([
        { event: 'audit', data: '{"a":\n1}', id: '1-0' },
        { event: 'log', data: 'no space', id: '1-2' },
        { event: 'message', data: 'plain', id: '1-2' },
      ]);
      expect(parser.lastEventId).toBe('1-2');
    }
  });

  it('an id alone dispatches nothing but is the id to resume from; an id with a NUL is ignored', () => {
    const parser = new SseParser();
    expect(parser.push('id: 41-17\n\n')).toEqual([]);
    expect(parser.lastEventId).toBe('41-17');
    expect(parser.push('id: 9\u00000\n\n')).toEqual([]);
    expect(parser.lastEventId).toBe('41-17');
    // A message not yet ended by its blank line is not dispatched.
    expect(parser.push('event: log\ndata: x\n')).toEqual([]);
    expect(parser.push('\n')).toEqual([{ event: 'log', data: 'x', id: '41-17' }]);
  });
});

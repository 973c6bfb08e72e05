// Proves that Gatehouse's SSE parser reads event streams as the parser of the SDK's client
// transport does: every line ending (LF, CRLF, CR, and a CRLF split between two chunks), events
// and lines split anywhere across chunks, multi-line data, a leading byte-order mark, comments,
// `retry`, an event's own `id` (an id-only block is no event; a priming event with empty data is
// one), and custom event types; and an event past its size limit refused.
import { describe, expect, it } from 'vitest';
import { SseParser, type SseEvent } from '../../src/transports/upstream/sse-parser.js';

function parse(chunks: string[]): { events: SseEvent[]; retries: number[] } {
  const events: SseEvent[] = [];
  const retries: number[] = [];
  const parser = new SseParser(
    (e) => events.push(e),
    (ms) => retries.push(ms),
  );
  for (const c of chunks) parser.push(c);
  return { events, retries };
}

const STREAM =
  'id: 1\ndata: {"a":1}\n\n: keep-alive\n\nevent: note\ndata: line one\ndata: line two\n\nid: 2\ndata:\n\n';
const EXPECTED: SseEvent[] = [
  { id: '1', event: undefined, data: '{"a":1}' },
  { id: undefined, event: 'note', data: 'line one\nline two' },
  { id: '2', event: undefined, data: '' },
];

describe('SseParser', () => {
  it('reads a stream in one chunk: data, comments, multi-line data, event types, a priming event', () => {
    expect(parse([STREAM]).events).toEqual(EXPECTED);
  });

  it('reads the same events whatever the chunk boundaries, down to one character per chunk', () => {
    expect(parse([...STREAM]).events).toEqual(EXPECTED);
    for (let cut = 1; cut < STREAM.length; cut++)
      expect(parse([STREAM.slice(0, cut), STREAM.slice(cut)]).events, `cut at ${cut}`).toEqual(EXPECTED);
  });

  it('accepts CRLF and lone CR line endings, including a CRLF split between chunks', () => {
    const crlf = STREAM.replaceAll('\n', '\r\n');
    const cr = STREAM.replaceAll('\n', '\r');
    expect(parse([crlf]).events).toEqual(EXPECTED);
    expect(parse([cr]).events).toEqual(EXPECTED);
    for (let cut = 1; cut < crlf.length; cut++)
      expect(parse([crlf.slice(0, cut), crlf.slice(cut)]).events, `cut at ${cut}`).toEqual(EXPECTED);
    for (let cut = 1; cut < cr.length; cut++)
      expect(parse([cr.slice(0, cut), cr.slice(cut)]).events, `cut at ${cut}`).toEqual(EXPECTED);
  });

  it('skips a leading byte-order mark, and a field without a colon is a field with an empty value', () => {
    expect(parse(['\ufeffdata: x\n\n']).events).toEqual([{ id: undefined, event: undefined, data: 'x' }]);
    expect(parse(['data\n\n']).events).toEqual([{ id: undefined, event: undefined, data: '' }]);
  });

  it('an id is the event’s own: an id-only block dispatches nothing and does not carry over', () => {
    expect(parse(['id: 7\n\ndata: a\n\n']).events).toEqual([{ id: undefined, event: undefined, data: 'a' }]);
    expect(parse(['id: 7\ndata: a\n\ndata: b\n\n']).events.map((e) => e.id)).toEqual(['7', undefined]);
    expect(parse(['id: a\0b\ndata: x\n\n']).events[0]?.id).toBeUndefined();
  });

  it('reports a numeric retry, ignores a malformed one and unknown fields', () => {
    const { events, retries } = parse(['retry: 250\nretry: soon\nfoo: bar\ndata: x\n\n']);
    expect(retries).toEqual([250]);
    expect(events).toEqual([{ id: undefined, event: undefined, data: 'x' }]);
  });

  it('an event the stream ends in the middle of is not dispatched', () => {
    expect(parse(['data: complete\n\ndata: cut off\n']).events).toEqual([
      { id: undefined, event: undefined, data: 'complete' },
    ]);
  });

  it('an event larger than its limit throws once it passes it, however it is split; many small events do not', () => {
    const events: SseEvent[] = [];
    const small = new SseParser((e) => events.push(e), undefined, 20);
    for (let i = 0; i < 10; i++) small.push(`data: event ${i}\n\n`);
    expect(events).toHaveLength(10);
    const big = new SseParser((e) => events.push(e), undefined, 20);
    big.push('data: 0123456789');
    // 10 characters of data, and 11 of a line not yet ended.
    expect(() => big.push('\ndata: 01234')).toThrow(/larger than 20 characters/);
    // One unfinished line past the limit, with no line ending yet.
    const line = new SseParser((e) => events.push(e), undefined, 20);
    expect(() => line.push('data: ' + 'x'.repeat(30))).toThrow(/larger than 20 characters/);
    expect(events).toHaveLength(10);
  });

  it('a data line spread over many chunks, none of which ends it, is read whole', () => {
    const piece = 'abcdefgh'.repeat(8192);
    const { events } = parse(['id: 7\ndata: ', ...Array<string>(20).fill(piece), 'end\r', '\n\r\n']);
    expect(events).toEqual([{ id: '7', event: undefined, data: `${piece.repeat(20)}end` }]);
  });
});

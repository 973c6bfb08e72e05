// Server-Sent Events, as an upstream's Streamable HTTP responses carry them (text/event-stream):
// lines end in CRLF, LF or CR; `data:` lines accumulate, a blank line dispatches. An event is
// dispatched only when it has at least one `data` line, and its `id` is its own (not carried over
// to the next event), as the parser the SDK's client transport uses has it: an `id:` line alone
// is no event, and a priming event (`id` with empty `data`) is one.

/**
 * The least time an upstream's `retry:` may set between the end of an event stream and its
 * reopening. A server that answers `retry: 0` and closes every stream at once would otherwise have
 * the gateway reconnect hundreds of times a second, for as long as it likes, on one upstream's say.
 * Servers that poll this way ask for seconds.
 */
export const MIN_SERVER_RETRY_MS = 500;

/** The longest delay a Node timer holds; a longer one fires after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A server's `retry:` as a delay the gateway waits: at least MIN_SERVER_RETRY_MS, and one a timer can hold. */
export function serverRetryDelay(ms: number): number {
  return Math.min(Math.max(ms, MIN_SERVER_RETRY_MS), MAX_TIMER_MS);
}

export interface SseEvent {
  /** The `event` field; undefined means the default type, `message`. */
  event: string | undefined;
  data: string;
  id: string | undefined;
}

export class SseParser {
  /** An incomplete line carried over from the previous chunk. */
  private pending = '';
  private first = true;
  /** The previous chunk ended in CR: a LF starting this one belongs to that line ending. */
  private afterCr = false;
  private data = '';
  private dataLines = 0;
  private event: string | undefined;
  private id: string | undefined;

  /**
   * `maxEventChars`: the most one event may hold, its data so far and an unfinished line
   * together; beyond it push() throws, and the stream should be given up.
   */
  constructor(
    private readonly onEvent: (event: SseEvent) => void,
    private readonly onRetry?: (ms: number) => void,
    private readonly maxEventChars = Infinity,
  ) {}

  /** Feeds decoded text; complete events are dispatched before it returns. */
  push(chunk: string): void {
    this.read(chunk);
    // Checked once a chunk is read: an event may overshoot by one chunk, never grow on.
    if (this.pending.length + this.data.length > this.maxEventChars) {
      this.pending = '';
      this.data = '';
      throw new Error(
        `An SSE event from the upstream is larger than ${this.maxEventChars} characters, the most Gatehouse reads of one message.`,
      );
    }
  }

  private read(chunk: string): void {
    if (this.first && chunk.length > 0) {
      this.first = false;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    let text = chunk;
    let i = 0;
    if (this.afterCr) {
      this.afterCr = false;
      if (text.charCodeAt(0) === 10) i = 1;
    }
    if (this.pending.length > 0) {
      const rest = i === 0 ? text : text.slice(i);
      // A line still unfinished: a chunk that does not end it is only added to it, not scanned
      // again with it, so a long line costs its length once rather than its length squared.
      if (rest.indexOf('\n') === -1 && rest.indexOf('\r') === -1) {
        this.pending += rest;
        return;
      }
      text = this.pending + rest;
      i = 0;
      this.pending = '';
    }
    const n = text.length;
    // The next LF and CR at or after i, found with indexOf (fast on long data lines) and
    // searched again only once passed.
    let lf = text.indexOf('\n', i);
    let cr = text.indexOf('\r', i);
    while (i < n) {
      if (lf !== -1 && lf < i) lf = text.indexOf('\n', i);
      if (cr !== -1 && cr < i) cr = text.indexOf('\r', i);
      const end = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr);
      if (end === -1) {
        this.pending = text.slice(i);
        return;
      }
      this.line(text, i, end);
      i = end + 1;
      if (end === cr) {
        if (i === n) this.afterCr = true;
        else if (text.charCodeAt(i) === 10) i++;
      }
    }
  }

  private line(text: string, start: number, end: number): void {
    if (start === end) return this.dispatch();
    if (text.charCodeAt(start) === 58) return; // a comment (`:`), often a keep-alive
    const colon = text.indexOf(':', start);
    let field: string;
    let value: string;
    if (colon === -1 || colon >= end) {
      field = text.slice(start, end);
      value = '';
    } else {
      field = text.slice(start, colon);
      const from = text.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1;
      value = from >= end ? '' : text.slice(from, end);
    }
    switch (field) {
      case 'data':
        this.data = this.dataLines === 0 ? value : `${this.data}\n${value}`;
        this.dataLines++;
        return;
      case 'event':
        this.event = value || undefined;
        return;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        return;
      case 'retry':
        if (/^\d+$/.test(value)) this.onRetry?.(Number(value));
        return;
      default:
        return; // unknown fields are ignored, as the EventSource standard says
    }
  }

  private dispatch(): void {
    if (this.dataLines > 0) this.onEvent({ event: this.event, data: this.data, id: this.id });
    this.data = '';
    this.dataLines = 0;
    this.event = undefined;
    this.id = undefined;
  }
}

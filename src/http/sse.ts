// A Server-Sent Events stream on a Node response: JSON-RPC messages as `message` events,
// comment frames to keep idle connections from being cut by proxies.
import type { ServerResponse } from 'node:http';

const KEEPALIVE_MS = 15_000;

/**
 * The most a stream holds that its client has not read (beyond what the kernel's socket buffers
 * take). Node queues every write whatever the socket takes, so a client that opened a stream and
 * stopped reading it while its session's calls went on made the gateway keep every answer in
 * memory until it ran out. A stream this far behind is closed: its session ends as if the client
 * had gone. It is room for a message of the largest size an upstream may send (10 MiB) and more.
 */
export const MAX_UNREAD_BYTES = 16 * 1024 * 1024;

export class SseStream {
  private readonly keepalive: NodeJS.Timeout;
  closed = false;

  constructor(
    private readonly res: ServerResponse,
    headers: Record<string, string> = {},
  ) {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      ...headers,
    });
    res.flushHeaders();
    this.keepalive = setInterval(() => this.comment('keepalive'), KEEPALIVE_MS);
    this.keepalive.unref();
    res.on('close', () => this.markClosed());
  }

  /** Writes one event; false when the stream is closed, or is closed now because its client does not read. */
  send(message: unknown, event = 'message'): boolean {
    if (this.closed || this.cutIfUnread()) return false;
    this.res.write(`event: ${event}\ndata: ${typeof message === 'string' ? message : JSON.stringify(message)}\n\n`);
    return true;
  }

  comment(text: string): void {
    if (!this.closed && !this.cutIfUnread()) this.res.write(`: ${text}\n\n`);
  }

  /** Closes the stream when its client has left MAX_UNREAD_BYTES unread; true when it did. */
  private cutIfUnread(): boolean {
    if (this.res.writableLength <= MAX_UNREAD_BYTES) return false;
    this.markClosed();
    this.res.destroy();
    return true;
  }

  end(): void {
    if (this.closed) return;
    this.markClosed();
    this.res.end();
  }

  onClose(fn: () => void): void {
    this.res.on('close', fn);
  }

  private markClosed(): void {
    this.closed = true;
    clearInterval(this.keepalive);
  }
}

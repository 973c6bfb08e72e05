// A Server-Sent Events stream on a Node response: JSON-RPC messages as `message` events,
// comment frames to keep idle connections from being cut by proxies.
import type { ServerResponse } from 'node:http';

const KEEPALIVE_MS = 15_000;

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

  send(message: unknown, event = 'message'): boolean {
    if (this.closed) return false;
    this.res.write(`event: ${event}\ndata: ${typeof message === 'string' ? message : JSON.stringify(message)}\n\n`);
    return true;
  }

  comment(text: string): void {
    if (!this.closed) this.res.write(`: ${text}\n\n`);
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

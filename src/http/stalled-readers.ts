// A client that stops reading makes the gateway keep what it was sent: the answers' bytes wait in
// the connection's write buffer, beyond what the kernel takes. Event streams are bounded by
// MAX_UNREAD_BYTES (sse.ts), but a plain JSON answer is written once and then held until the
// client reads it, and a client may hold many connections. So every connection with bytes waiting
// is looked at once per interval: one whose client has taken none of them since the last look is
// closed. A client that reads, however slowly, is left alone, and so is a call held open without
// anything written yet (an approval in `hold` mode): nothing waits on its connection.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** How often connections are looked at: a stalled one is closed 30 to 60 s after it stalled. */
export const STALL_CHECK_MS = 30_000;

/** Starts the checks on `server`'s connections; returns what stops them. */
export function closeStalledReaders(server: Server, everyMs: number = STALL_CHECK_MS): () => void {
  const sockets = new Set<Socket>();
  // What each connection with bytes waiting had sent at the last look.
  const progress = new Map<Socket, string>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      progress.delete(socket);
    });
  });
  const timer = setInterval(() => {
    for (const socket of sockets) {
      if (socket.writableLength === 0) {
        progress.delete(socket);
        continue;
      }
      const now = sent(socket);
      if (progress.get(socket) === now) socket.destroy();
      else progress.set(socket, now);
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * How far a connection's writes have gone, as a value that changes whenever the client takes
 * bytes: the writes completed (bytesWritten counts what is still buffered too, writableLength
 * what is not complete), and what the write in progress still has to hand to the kernel. That
 * second part is libuv's write queue, which Node's own socket timeout reads the same way to tell
 * a large write in progress from a stalled one; it is not part of Node's documented API, so
 * without it only completed writes count as progress.
 */
function sent(socket: Socket): string {
  const queued = (socket as unknown as { _handle?: { writeQueueSize?: unknown } })._handle?.writeQueueSize;
  return `${socket.bytesWritten - socket.writableLength}:${typeof queued === 'number' ? queued : ''}`;
}

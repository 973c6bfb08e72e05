// A client that stops reading makes the gateway keep what it was sent: the answers' bytes wait in
// the connection's write buffer, beyond what the kernel takes. Event streams are bounded by
// MAX_UNREAD_BYTES (sse.ts), but a plain JSON answer is written once and then held until the
// client reads it, and a client may hold many connections. Answers to requests pipelined behind
// one still open (an event stream, a call held for approval) are held too, whatever the client
// reads, until that one ends. So every connection is looked at once per interval: one with bytes
// waiting whose client has taken none of them since the last look is closed, and so is one with an
// answer that was written and waited behind another at the last look already. The kernel takes
// bytes back in steps (on loopback about 1.4 MiB), so a client must take at least one such step an
// interval: about 25 KB/s at the default. A call held open with nothing written yet (an approval in
// `hold` mode) is not touched: nothing waits on it.
import type { Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** How often connections are looked at: a stalled one is closed one to two intervals after it stalled. */
export const STALL_CHECK_MS = 60_000;

export interface StalledReaders {
  /** Notes an answer that waits behind another on its connection (a pipelined request's). */
  queued(socket: Socket, res: ServerResponse): void;
  stop(): void;
}

/** Starts the checks on `server`'s connections. */
export function closeStalledReaders(server: Server, everyMs: number = STALL_CHECK_MS): StalledReaders {
  const sockets = new Set<Socket>();
  // What each connection with bytes waiting had sent at the last look.
  const progress = new Map<Socket, string>();
  // Answers waiting behind another on their connection, until they are sent or it closes.
  const behind = new Map<Socket, Set<ServerResponse>>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      progress.delete(socket);
      behind.delete(socket);
    });
  });
  // Answers that were written and still waited behind another at the last look.
  let stuck = new WeakSet<ServerResponse>();
  /** Whether an answer written before the last look still waits behind another; notes those waiting now. */
  const stillBehind = (socket: Socket, next: WeakSet<ServerResponse>): boolean => {
    let still = false;
    for (const res of behind.get(socket) ?? []) {
      if (!res.writableEnded) continue;
      if (stuck.has(res)) still = true;
      next.add(res);
    }
    return still;
  };
  const timer = setInterval(() => {
    const next = new WeakSet<ServerResponse>();
    for (const socket of sockets) {
      // Whatever the client reads of the answer ahead (an event stream's keepalives), one behind it
      // cannot go until that one ends.
      if (stillBehind(socket, next)) {
        socket.destroy();
        continue;
      }
      if (socket.writableLength === 0) {
        progress.delete(socket);
        continue;
      }
      const now = sent(socket);
      if (progress.get(socket) === now) socket.destroy();
      else progress.set(socket, now);
    }
    stuck = next;
  }, everyMs);
  timer.unref();
  return {
    queued(socket, res) {
      if (socket.destroyed) return;
      let set = behind.get(socket);
      if (!set) behind.set(socket, (set = new Set()));
      set.add(res);
      const done = (): void => void set.delete(res);
      res.once('finish', done);
      res.once('close', done);
    },
    stop: () => clearInterval(timer),
  };
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

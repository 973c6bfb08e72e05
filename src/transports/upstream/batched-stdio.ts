// The SDK's stdio client transport, with the messages sent in one turn of the event loop written
// to the child's stdin together. Under concurrency many calls are forwarded in the same turn; one
// write per turn wakes the child once instead of once per message, which on a busy machine is
// most of what a forwarded call costs the gateway. The bytes, their order and the framing (one
// JSON message per line) are exactly what the SDK writes; a send resolves once its bytes are
// handed to the pipe, or after the pipe drains when it was full, as the SDK's own send does.
// What the child writes back is read by MessageLineBuffer: the SDK's framing, without its schema
// on the common message shapes.
import type { ChildProcess } from 'node:child_process';
import { SdkError, SdkErrorCode, serializeMessage, type JSONRPCMessage } from '@modelcontextprotocol/client';
import { StdioClientTransport, type StdioServerParameters } from '@modelcontextprotocol/client/stdio';
import { MessageLineBuffer } from './message-reader.js';

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class BatchedStdioClientTransport extends StdioClientTransport {
  private pending: string[] = [];
  private waiters: Waiter[] = [];
  private flushScheduled = false;

  constructor(params: StdioServerParameters) {
    super(params);
    // The SDK reads the child's output through this field; if a later SDK moves it, its own
    // reader stays in place and only the speed-up is lost.
    const self = this as unknown as { _readBuffer?: unknown };
    if (self._readBuffer !== undefined) self._readBuffer = new MessageLineBuffer(params.maxBufferSize);
  }

  /** The child's stdin, read from the SDK transport; undefined before start and after close. */
  private stdin(): ChildProcess['stdin'] | undefined {
    return (this as unknown as { _process?: ChildProcess })._process?.stdin ?? undefined;
  }

  override send(message: JSONRPCMessage): Promise<void> {
    // Not connected (or an SDK whose internals moved): the SDK's own send, and its own error.
    if (!this.stdin()) return super.send(message);
    const line = serializeMessage(message);
    return new Promise<void>((resolve, reject) => {
      this.pending.push(line);
      this.waiters.push({ resolve, reject });
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      // After the I/O callbacks of this turn: every call that arrived in it has been forwarded.
      setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const text = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    const stdin = this.stdin();
    if (!stdin) {
      const err = new SdkError(SdkErrorCode.NotConnected, 'Not connected');
      for (const w of waiters) w.reject(err);
      return;
    }
    const done = (): void => {
      for (const w of waiters) w.resolve();
    };
    if (stdin.write(text)) done();
    else stdin.once('drain', done);
  }
}

// The stdio client transport: spawns the upstream and speaks newline-delimited JSON-RPC over its
// stdin and stdout, as the SDK's StdioClientTransport does (the same spawn options, environment,
// framing, buffer limit, errors and shutdown sequence), with two differences on the hot path:
//
// - The messages sent in one turn of the event loop are written to the child's stdin together.
//   Under concurrency many calls are forwarded in the same turn; one write wakes the child once
//   instead of once per message, which on a busy machine is most of what a forwarded call costs.
//   A send resolves once its bytes are handed to the pipe, or after the pipe drains when it was
//   full, as the SDK's does.
// - What the child writes back is read by MessageLineBuffer: the SDK's framing, without its zod
//   schema on the common message shapes.
//
// It is Gatehouse's own so that a gateway whose upstreams are stdio servers does not load the SDK's
// client package at all (its schemas cost memory and start-up time).
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { PassThrough } from 'node:stream';
import type { JSONRPCMessage, Transport } from '@modelcontextprotocol/client';
import { MessageLineBuffer } from './message-reader.js';

export interface StdioParameters {
  command: string;
  args?: string[];
  /** The child's whole environment (see defaultEnvironment). */
  env: Record<string, string>;
  cwd?: string;
}

/** Variables a child inherits when its environment is not given in full: nothing secret. */
const INHERITED_ENV =
  process.platform === 'win32'
    ? [
        'APPDATA',
        'COMSPEC',
        'HOMEDRIVE',
        'HOMEPATH',
        'LOCALAPPDATA',
        'PATH',
        'PATHEXT',
        'PROCESSOR_ARCHITECTURE',
        'PROGRAMDATA',
        'PROGRAMFILES',
        'PROGRAMFILES(X86)',
        'PROGRAMW6432',
        'SYSTEMDRIVE',
        'SYSTEMROOT',
        'TEMP',
        'USERNAME',
        'USERPROFILE',
        'WINDIR',
      ]
    : ['HOME', 'LOGNAME', 'PATH', 'SHELL', 'TERM', 'USER'];

/** The safe part of the gateway's own environment, as the SDK's getDefaultEnvironment gives it. */
export function defaultEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of INHERITED_ENV) {
    const value = process.env[key];
    // A bash function exported into the environment is not a value to pass on.
    if (value === undefined || value.startsWith('()')) continue;
    env[key] = value;
  }
  return env;
}

// On Windows a command such as `npx` is a .cmd shim that spawn cannot start by name; cross-spawn
// resolves it, as it does for the SDK.
const spawnChild: typeof spawn =
  process.platform === 'win32' ? (createRequire(import.meta.url)('cross-spawn') as typeof spawn) : spawn;

/** An error the SDK's transports give too, so callers need not tell the two apart. */
function notConnected(): Error {
  return Object.assign(new Error('Not connected'), { code: 'NOT_CONNECTED' });
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class StdioUpstreamTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private child: ChildProcess | undefined;
  private readonly reader: MessageLineBuffer;
  /** Lines the child writes to stderr; there before start, so no early line is missed. */
  readonly stderr = new PassThrough();
  private pending: string[] = [];
  private waiters: Waiter[] = [];
  private flushScheduled = false;

  constructor(private readonly params: StdioParameters) {
    this.reader = new MessageLineBuffer();
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  start(): Promise<void> {
    if (this.child) throw new Error('StdioUpstreamTransport already started');
    return new Promise((resolve, reject) => {
      const child = spawnChild(this.params.command, this.params.args ?? [], {
        env: this.params.env,
        stdio: ['pipe', 'pipe', 'pipe'],
        shell: false,
        windowsHide: process.platform === 'win32',
        cwd: this.params.cwd,
      });
      this.child = child;
      child.on('error', (error) => {
        reject(error);
        this.onerror?.(error);
      });
      child.on('spawn', () => resolve());
      child.on('close', () => {
        this.child = undefined;
        this.onclose?.();
      });
      child.stdin?.on('error', (error) => this.onerror?.(error));
      child.stdout?.on('data', (chunk: Buffer) => {
        try {
          this.reader.append(chunk);
          this.readMessages();
        } catch (error) {
          this.onerror?.(error as Error);
          this.close().catch(() => {});
        }
      });
      child.stdout?.on('error', (error) => this.onerror?.(error));
      child.stderr?.pipe(this.stderr);
    });
  }

  private readMessages(): void {
    for (;;) {
      try {
        const message = this.reader.readMessage();
        if (message === null) return;
        this.onmessage?.(message);
      } catch (error) {
        // One malformed message is reported; the lines after it are still read.
        this.onerror?.(error as Error);
      }
    }
  }

  send(message: JSONRPCMessage): Promise<void> {
    if (!this.child?.stdin) return Promise.reject(notConnected());
    const line = JSON.stringify(message) + '\n';
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
    const stdin = this.child?.stdin;
    if (!stdin) {
      const err = notConnected();
      for (const w of waiters) w.reject(err);
      return;
    }
    const done = (): void => {
      for (const w of waiters) w.resolve();
    };
    if (stdin.write(text)) done();
    else stdin.once('drain', done);
  }

  /** Ends the child's stdin, then asks it to stop (SIGTERM), then makes it (SIGKILL), 2 s apart. */
  async close(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child) {
      const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
      const wait = () => Promise.race([closed, new Promise<void>((resolve) => setTimeout(resolve, 2_000).unref())]);
      try {
        child.stdin?.end();
      } catch {
        // Already gone.
      }
      await wait();
      if (child.exitCode === null) {
        try {
          child.kill('SIGTERM');
        } catch {
          // Already gone.
        }
        await wait();
      }
      if (child.exitCode === null) {
        try {
          child.kill('SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
    this.reader.clear();
  }
}

// One connection to Redis as the store uses it: commands fail at once while Redis is away (no
// queue that would hold a call for minutes), ioredis keeps reconnecting in the background, and
// every failure becomes a StoreUnavailableError that says where and why.
import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';

// Loaded on first use: a gateway on memory or SQLite state never pays ioredis's start-up time
// (a third of a second) or its memory.
let RedisClass: typeof Redis | undefined;
function redisClass(): typeof Redis {
  RedisClass ??= (createRequire(import.meta.url)('ioredis') as { Redis: typeof Redis }).Redis;
  return RedisClass;
}

export class StoreUnavailableError extends Error {
  readonly code = 'STORE_UNAVAILABLE';
}

/** How long a command may take before the store counts as unreachable. */
const COMMAND_TIMEOUT_MS = 2000;
/** How long the first command waits for the first connection. */
const FIRST_CONNECT_MS = 3000;

export class RedisConnection {
  readonly redis: Redis;
  private lastError: string | undefined;
  private everReady = false;
  /** The wait for the first connection, shared by every operation issued before it is made. */
  private firstConnect: Promise<void> | undefined;

  constructor(
    options: RedisOptions,
    readonly where: string,
    extra: RedisOptions = {},
  ) {
    this.redis = new (redisClass())({
      ...options,
      // A call that needs the store is blocked while it is away, rather than queued.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: COMMAND_TIMEOUT_MS,
      // Try again quickly, so that limits work again within a second of Redis coming back.
      retryStrategy: (times) => Math.min(times * 100, 1000),
      ...extra,
    });
    this.redis.on('ready', () => {
      this.everReady = true;
      this.lastError = undefined;
    });
    // Without a listener ioredis reports each failed attempt on stderr; the store reports it instead.
    this.redis.on('error', (err: Error) => {
      this.lastError = err.message || String(err);
    });
    this.redis.on('close', () => {
      this.lastError ??= 'the connection was closed';
    });
  }

  get ready(): boolean {
    return this.redis.status === 'ready';
  }

  /** Resolves once the connection is usable; throws StoreUnavailableError when it is not. */
  async whenReady(): Promise<void> {
    if (this.redis.status === 'ready') return;
    if (this.redis.status === 'end' || this.redis.status === 'close' || this.everReady || this.lastError)
      throw this.unavailable();
    // The first connection is still being made: wait for it, briefly. Every operation issued
    // meanwhile waits on the same promise, not on listeners of its own on the client.
    this.firstConnect ??= new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.redis.off('ready', onReady);
        this.redis.off('error', onError);
        if (err) reject(err);
        else resolve();
      };
      const onReady = () => done();
      const onError = () => done(this.unavailable());
      const timer = setTimeout(() => done(this.unavailable('no answer yet')), FIRST_CONNECT_MS);
      this.redis.once('ready', onReady);
      this.redis.once('error', onError);
    }).finally(() => (this.firstConnect = undefined));
    return this.firstConnect;
  }

  /** Runs one store operation, turning connection failures into StoreUnavailableError. */
  async run<T>(op: (redis: Redis) => Promise<T>): Promise<T> {
    await this.whenReady();
    try {
      return await op(this.redis);
    } catch (err) {
      if (err instanceof Error && isConnectionFailure(err)) throw this.unavailable(err.message);
      throw err;
    }
  }

  unavailable(detail?: string): StoreUnavailableError {
    const why = detail ?? this.lastError ?? 'not connected';
    return new StoreUnavailableError(
      `The Redis state store at ${this.where} is unreachable (${why}); Gatehouse reconnects on its own.`,
    );
  }

  async close(): Promise<void> {
    if (this.redis.status === 'end') return;
    try {
      if (this.redis.status === 'ready') await this.redis.quit();
      else this.redis.disconnect();
    } catch {
      this.redis.disconnect();
    }
  }
}

/** Errors that mean Redis could not be reached, as opposed to errors Redis answered with. */
function isConnectionFailure(err: Error): boolean {
  const name = err.name;
  return (
    name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|Stream isn't writeable|Command timed out|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH/i.test(
      err.message,
    )
  );
}

// Redis for tests: a state URL with a key prefix of its own for each test run (the shared Redis is
// never flushed; a run deletes exactly its own keys afterwards), and a private redis-server child
// process that a test can stop and start again to see how the gateway lives through an outage.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { freePort, track } from '../helpers/index.js';

export const REDIS_BASE = process.env.GATEHOUSE_TEST_REDIS ?? 'redis://127.0.0.1:6379/0';
export const REDIS_SERVER_BIN = '/usr/bin/redis-server';

/** A prefix no other run uses. */
export function uniquePrefix(): string {
  return `ghtest:${process.pid}:${randomBytes(4).toString('hex')}:`;
}

export function redisUrl(prefix: string, base = REDIS_BASE): string {
  return `${base}?prefix=${encodeURIComponent(prefix)}`;
}

/** Deletes every key under `prefix` (SCAN, not KEYS: it does not block a shared server). */
export async function deletePrefix(prefix: string, base = REDIS_BASE): Promise<number> {
  const redis = new Redis(base, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

/** A redis-server of the test's own, on a port of its own, with no persistence. */
export class PrivateRedis {
  private child: ChildProcess | undefined;
  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateRedis> {
    const r = new PrivateRedis(await freePort());
    await r.start();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  async start(): Promise<void> {
    const child = track(
      spawn(
        REDIS_SERVER_BIN,
        ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
    );
    this.child = child;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (/Ready to accept connections/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited (${code}): ${out}`));
      });
    });
  }

  /** Kills the server at once, as a crash would. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    this.child = undefined;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
}

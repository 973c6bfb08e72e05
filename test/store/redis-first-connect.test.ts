// Operations issued while the first Redis connection is still being made all wait on one shared
// wait: no listener per operation piles up on the client, and they all succeed, or all fail with
// the store's own error when Redis cannot be reached.
import { afterEach, describe, expect, it } from 'vitest';
import { RedisConnection, StoreUnavailableError } from '../../src/store/redis-connection.js';
import { freePort } from '../helpers/index.js';

const open: RedisConnection[] = [];
const warnings: string[] = [];
const onWarning = (w: Error): void => void warnings.push(w.name);

afterEach(() => {
  process.off('warning', onWarning);
  for (const c of open.splice(0)) c.redis.disconnect();
});

function connect(port: number): RedisConnection {
  const c = new RedisConnection({ host: '127.0.0.1', port }, `127.0.0.1:${port}`);
  open.push(c);
  return c;
}

describe('the first Redis connection', () => {
  it('serves fifty operations issued before it is made, with no listener left per operation', async () => {
    process.on('warning', onWarning);
    const c = connect(6379);
    const before = c.redis.listenerCount('ready') + c.redis.listenerCount('error');
    const answers = await Promise.all(Array.from({ length: 50 }, () => c.run((r) => r.ping())));
    expect(answers).toEqual(Array(50).fill('PONG'));
    expect(c.redis.listenerCount('ready') + c.redis.listenerCount('error')).toBe(before);
    await new Promise((r) => setImmediate(r));
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });

  it('fails every waiting operation with the store error when Redis cannot be reached', async () => {
    const c = connect(await freePort());
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => c.run((r) => r.ping())));
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
    }
  });
});

// Proves how the fetch given to the SDK's legacy HTTP+SSE transport spaces the event streams it
// opens (GETs), on faked timers: a stream opened within 500 ms of the last one waits out the rest;
// the first, and one opened later, do not wait; the SDK's hops through a redirect do not wait, but a
// loop of redirects is spaced after five of them; a POST never waits; and a waiting GET whose
// request is aborted rejects without reaching the server.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { boundedFetch } from '../../src/transports/upstream/bounded-fetch.js';
import { MIN_SERVER_RETRY_MS } from '../../src/transports/upstream/sse-parser.js';

const URL_ = 'http://upstream.test/sse';

/** A fake server: answers each request with the next status given (200 is an event stream). */
function fakeServer(statuses: number[]) {
  const seen: string[] = [];
  const base = (async (_input: unknown, init?: RequestInit) => {
    seen.push(init?.method ?? 'GET');
    const status = statuses.shift() ?? 200;
    if (status === 200 && (init?.method ?? 'GET') === 'GET')
      return new Response('data: x\n\n', { status, headers: { 'content-type': 'text/event-stream' } });
    if (status >= 300 && status < 400) return new Response(null, { status, headers: { location: '/sse/' } });
    return new Response('{}', { status });
  }) as typeof fetch;
  return { base, seen };
}

/** Lets every promise settle that can without time passing. */
const settle = () => vi.advanceTimersByTimeAsync(0);

describe('event streams opened through the legacy transport’s fetch', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a stream reopened within 500 ms waits out the rest; the first does not wait', async () => {
    const { base, seen } = fakeServer([200, 200]);
    const f = boundedFetch(10_000, undefined, base);
    await f(URL_);
    expect(seen).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(100);
    const second = f(URL_);
    await vi.advanceTimersByTimeAsync(MIN_SERVER_RETRY_MS - 101);
    expect(seen).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await second;
    expect(seen).toHaveLength(2);
  });

  it('a stream opened 500 ms or more after the last does not wait', async () => {
    const { base, seen } = fakeServer([200, 200]);
    const f = boundedFetch(10_000, undefined, base);
    await f(URL_);
    await vi.advanceTimersByTimeAsync(MIN_SERVER_RETRY_MS);
    void f(URL_);
    await settle();
    expect(seen).toHaveLength(2);
  });

  it("the SDK's hops through redirects do not wait, but after five the next GET does", async () => {
    const { base, seen } = fakeServer([307, 307, 307, 307, 307, 307, 200]);
    const f = boundedFetch(10_000, undefined, base);
    for (let i = 0; i < 6; i++) await f(URL_);
    expect(seen).toHaveLength(6);
    const seventh = f(URL_);
    await settle();
    expect(seen).toHaveLength(6);
    await vi.advanceTimersByTimeAsync(MIN_SERVER_RETRY_MS);
    await seventh;
    expect(seen).toHaveLength(7);
  });

  it('a POST never waits', async () => {
    const { base, seen } = fakeServer([200, 202, 202]);
    const f = boundedFetch(10_000, undefined, base);
    await f(URL_);
    await f(URL_, { method: 'POST', body: '{}' });
    await f(URL_, { method: 'POST', body: '{}' });
    expect(seen).toEqual(['GET', 'POST', 'POST']);
  });

  it('a waiting GET whose request is aborted rejects with the reason and never reaches the server', async () => {
    const { base, seen } = fakeServer([200, 200]);
    const f = boundedFetch(10_000, undefined, base);
    await f(URL_);
    const abort = new AbortController();
    const waiting = f(URL_, { signal: abort.signal });
    const outcome = waiting.then(
      () => 'resolved',
      (e: Error) => e.message,
    );
    abort.abort(new Error('closed'));
    expect(await outcome).toBe('closed');
    await vi.advanceTimersByTimeAsync(MIN_SERVER_RETRY_MS);
    expect(seen).toHaveLength(1);
  });
});

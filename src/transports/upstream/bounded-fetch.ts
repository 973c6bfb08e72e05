// The fetch the SDK's legacy HTTP+SSE transport is given, so that a server reached over it is held
// to the bounds Gatehouse's own transports keep. Left to itself the SDK reads a POST's answer
// with response.text() (all of it, for as long as it takes: a 202 whose body never ends holds the
// handshake, and every call waiting on it, for ever), and its EventSource buffers a line or event
// without end. Here a POST's answer is read whole within the server's timeout_ms and at most
// MAX_MESSAGE_BYTES, and the event stream (a GET) must start within timeout_ms and is given up,
// as a lost connection is, once one event outgrows MAX_MESSAGE_BYTES. The EventSource reopens the
// stream as soon as the server's `retry:` says; the streams are opened at least MIN_SERVER_RETRY_MS
// apart (the SDK's hops through a redirect, which it makes with this fetch too, wait for nothing).
import { MAX_MESSAGE_BYTES } from './message-reader.js';
import { MIN_SERVER_RETRY_MS, SseParser } from './sse-parser.js';

/** The redirects the SDK follows for one request (MAX_REDIRECTS of its fetchWithinOrigin). */
const MAX_REDIRECT_HOPS = 5;

const isRedirect = (status: number): boolean => status >= 300 && status < 400;

/** Statuses whose Response may not have a body. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

export function boundedFetch(
  timeoutMs: number,
  maxBytes = MAX_MESSAGE_BYTES,
  base: typeof fetch = fetch,
): typeof fetch {
  let lastStreamAt = -Infinity;
  /** GETs that may follow a redirect without waiting: the rest of the SDK's hops after a 3xx. */
  let hopsLeft = 0;
  return async (input, init) => {
    const method = (init?.method ?? 'GET').toUpperCase();
    const hop = method === 'GET' && hopsLeft > 0;
    if (hop) hopsLeft--;
    else if (method === 'GET') {
      const wait = lastStreamAt + MIN_SERVER_RETRY_MS - performance.now();
      if (wait > 0) await pause(wait, init?.signal ?? undefined);
      lastStreamAt = performance.now();
    }
    const deadline = new AbortController();
    const timer = setTimeout(
      () =>
        deadline.abort(
          Object.assign(new Error(`The upstream did not finish answering within ${timeoutMs} ms.`), {
            code: 'ETIMEDOUT',
          }),
        ),
      timeoutMs,
    );
    try {
      const signal = init?.signal ? AbortSignal.any([init.signal, deadline.signal]) : deadline.signal;
      const res = await base(input, { ...init, signal });
      // At most MAX_REDIRECT_HOPS GETs go unspaced after each spaced one, however the server
      // redirects: a loop of redirects is spaced like a loop of streams.
      if (method === 'GET') hopsLeft = !isRedirect(res.status) ? 0 : hop ? hopsLeft : MAX_REDIRECT_HOPS;
      if (method === 'GET' && res.ok && res.body) return withEventLimit(res, maxBytes);
      const body = await readBounded(res, maxBytes);
      return new Response(NULL_BODY.has(res.status) ? null : body, {
        status: res.status,
        statusText: res.statusText,
        headers: res.headers,
      });
    } finally {
      clearTimeout(timer);
    }
  };
}

/** Waits `ms`, or rejects with the signal's reason once it aborts (on the global timers, which tests can fake). */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The whole body, failing (and dropping the connection) once it passes `maxBytes`. */
async function readBounded(res: Response, maxBytes: number): Promise<Uint8Array> {
  if (!res.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.length;
    if (length > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new Error(
        `The upstream's response is larger than ${maxBytes} bytes, the most Gatehouse reads of one message.`,
      );
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/**
 * The event stream as it came, but erroring (which ends its connection) once one event, or a line
 * not yet ended, is past `maxBytes` characters: the same SSE parser as the Streamable HTTP
 * transport's measures it.
 */
function withEventLimit(res: Response, maxBytes: number): Response {
  const decoder = new TextDecoder();
  const parser = new SseParser(noop, undefined, maxBytes);
  const limit = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      parser.push(decoder.decode(chunk, { stream: true }));
      controller.enqueue(chunk);
    },
  });
  return new Response(res.body!.pipeThrough(limit), {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
}

function noop(): void {}

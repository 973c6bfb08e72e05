// Sends a client's request on to the replica that can answer it (a 2026-07-28 retry whose
// upstream call is parked there) and streams that replica's answer back unchanged. The request is
// re-sent as the client sent it, headers included: the other replica authenticates and checks it
// as it would any request. Hop-by-hop headers are not carried across.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Marks a forwarded request (the id of the replica that sent it), so it is never forwarded again. */
export const FORWARDED_HEADER = 'x-gatehouse-forwarded-by';

const NOT_CARRIED = new Set([
  'host',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'expect',
  'content-length',
  'accept-encoding',
  'te',
  'trailer',
  'proxy-authorization',
  'proxy-connection',
  FORWARDED_HEADER,
]);
const ANSWER_HEADERS = ['content-type', 'cache-control', 'mcp-session-id', 'www-authenticate', 'retry-after'];

/**
 * The replica's URL for a request target: the replica's origin with the target's path and query
 * only. A target that names a host (`http://elsewhere/...`, `//elsewhere/...`) never chooses where
 * the request goes.
 */
export function targetAt(base: string, target: string | undefined): URL {
  const { pathname, search } = new URL(target ?? '/', 'http://gatehouse');
  const url = new URL(base);
  url.pathname = pathname;
  url.search = search;
  url.hash = '';
  return url;
}

/**
 * Forwards `req` (whose body was `raw`) to `base` and streams the answer into `res`. False, with
 * nothing written, when the replica could not be reached; true once its answer has been relayed.
 */
export async function forwardToReplica(
  req: IncomingMessage,
  res: ServerResponse,
  base: string,
  raw: string,
  from: string,
): Promise<boolean> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || NOT_CARRIED.has(name)) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  headers.set(FORWARDED_HEADER, from);
  const abort = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) abort.abort();
  };
  res.on('close', onClose);
  let answer: Response;
  try {
    answer = await fetch(targetAt(base, req.url), {
      method: req.method ?? 'POST',
      headers,
      body: raw,
      signal: abort.signal,
      redirect: 'manual',
    });
  } catch {
    // Refused, or no connection within fetch's connect timeout: the replica is not there. (No
    // overall timeout: the answer may rightly take as long as the parked call runs.)
    res.off('close', onClose);
    return false;
  }
  const out: Record<string, string> = {};
  for (const name of ANSWER_HEADERS) {
    const v = answer.headers.get(name);
    if (v !== null) out[name] = v;
  }
  if (out['content-type']?.startsWith('text/event-stream')) out['x-accel-buffering'] = 'no';
  res.writeHead(answer.status, out);
  res.flushHeaders();
  try {
    if (answer.body) await pipeline(Readable.fromWeb(answer.body as import('node:stream/web').ReadableStream), res);
    else res.end();
  } catch {
    // The client or the other replica hung up mid-answer: nothing more can be said to either.
    res.destroy();
  } finally {
    res.off('close', onClose);
  }
  return true;
}

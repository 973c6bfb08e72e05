// Finds out once which era an HTTP upstream speaks: a modern server answers `server/discover`
// with its supported versions; a legacy one refuses it (400/404/405, or a JSON-RPC error).
import { MODERN_PROTOCOL_VERSION, gatewayEnvelope } from '../../mcp/era.js';
import { isObject, type JsonObject } from '../../mcp/jsonrpc.js';
import { HttpExchange, HttpTarget, header, operatorHeaders, readText } from './http-exchange.js';
import { SseParser } from './sse-parser.js';

const PROBE_ID = 'gatehouse-probe';

export interface ProbeResult {
  era: 'legacy' | 'modern';
  discover?: Record<string, unknown>;
}

export async function probeHttpEra(
  url: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<ProbeResult> {
  const body = {
    jsonrpc: '2.0',
    id: PROBE_ID,
    method: 'server/discover',
    params: { _meta: gatewayEnvelope() },
  };
  const target = new HttpTarget(new URL(url));
  const x = new HttpExchange(
    'POST',
    [
      ...ownHeaders(headers),
      'content-type',
      'application/json',
      'accept',
      'application/json, text/event-stream',
      'mcp-protocol-version',
      MODERN_PROTOCOL_VERSION,
      'mcp-method',
      'server/discover',
    ],
    JSON.stringify(body),
  );
  const timer = setTimeout(
    () =>
      x.abort(Object.assign(new Error(`no answer to server/discover within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
    timeoutMs,
  );
  try {
    const res = await x.send(target);
    // A modern server answers with one message, whether as JSON or on an SSE stream.
    const text = await readText(res);
    if (res.status < 200 || res.status >= 300) return { era: 'legacy' };
    const payload = parseAnswer(text, header(res, 'content-type') ?? '');
    const result = payload?.result;
    if (
      isObject(result) &&
      Array.isArray(result.supportedVersions) &&
      result.supportedVersions.includes(MODERN_PROTOCOL_VERSION)
    )
      return { era: 'modern', discover: result };
    return { era: 'legacy' };
  } catch (err) {
    throw x.abortReason ?? err;
  } finally {
    clearTimeout(timer);
  }
}

/** The configured headers, but for those the probe sets itself and those that frame the message. */
function ownHeaders(headers: Record<string, string>): string[] {
  const out = operatorHeaders(headers);
  for (const name of PROBE_SETS) out.delete(name);
  return [...out].flat();
}

const PROBE_SETS = ['content-type', 'accept', 'mcp-protocol-version', 'mcp-method'];

/**
 * The answer to the probe in a response body: a JSON body, or on an SSE stream the event, whose
 * message carries the probe's id (a result for another id answers nothing the probe asked). Events before it (a priming event with empty data,
 * a notification, a message split over several `data:` lines) are read as the SSE standard has
 * them, by the same parser the transport uses.
 */
function parseAnswer(text: string, contentType: string): JsonObject | undefined {
  if (!contentType.includes('text/event-stream')) {
    const m = parseObject(text);
    return m?.id === PROBE_ID ? m : undefined;
  }
  let answer: JsonObject | undefined;
  new SseParser((event) => {
    const m = answer ? undefined : parseObject(event.data);
    if (m?.id === PROBE_ID) answer = m;
  }).push(`${text}\n\n`);
  return answer;
}

function parseObject(text: string): JsonObject | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

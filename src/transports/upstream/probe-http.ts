// Finds out once which era an HTTP upstream speaks: a modern server answers `server/discover`
// with its supported versions; a legacy one refuses it (400/404/405, or a JSON-RPC error).
import {
  META_CLIENT_CAPABILITIES,
  META_CLIENT_INFO,
  META_PROTOCOL_VERSION,
  MODERN_PROTOCOL_VERSION,
} from '../../mcp/era.js';
import { HttpExchange, HttpTarget, header, operatorHeaders, readText } from './http-exchange.js';

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
    id: 'gatehouse-probe',
    method: 'server/discover',
    params: {
      _meta: {
        [META_PROTOCOL_VERSION]: MODERN_PROTOCOL_VERSION,
        [META_CLIENT_CAPABILITIES]: {},
        [META_CLIENT_INFO]: { name: 'gatehouse', version: '0' },
      },
    },
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
    const payload = parseFirstMessage(text, header(res, 'content-type') ?? '');
    const result = payload?.result as Record<string, unknown> | undefined;
    const versions = result?.supportedVersions;
    if (Array.isArray(versions) && versions.includes(MODERN_PROTOCOL_VERSION))
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

function parseFirstMessage(text: string, contentType: string): Record<string, unknown> | undefined {
  try {
    if (contentType.includes('text/event-stream')) {
      for (const line of text.split('\n')) {
        if (line.startsWith('data:')) {
          const m = JSON.parse(line.slice(5).trim());
          if (m && typeof m === 'object' && 'id' in m) return m;
        }
      }
      return undefined;
    }
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

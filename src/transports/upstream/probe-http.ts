// Finds out once which era an HTTP upstream speaks: a modern server answers `server/discover`
// with its supported versions; a legacy one refuses it (400/404/405, or a JSON-RPC error).
import {
  META_CLIENT_CAPABILITIES,
  META_CLIENT_INFO,
  META_PROTOCOL_VERSION,
  MODERN_PROTOCOL_VERSION,
} from '../../mcp/era.js';

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
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      ...headers,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': MODERN_PROTOCOL_VERSION,
      'mcp-method': 'server/discover',
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (!res.ok) return { era: 'legacy' };
  const payload = parseFirstMessage(text, res.headers.get('content-type') ?? '');
  const result = payload?.result as Record<string, unknown> | undefined;
  const versions = result?.supportedVersions;
  if (Array.isArray(versions) && versions.includes(MODERN_PROTOCOL_VERSION)) return { era: 'modern', discover: result };
  return { era: 'legacy' };
}

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

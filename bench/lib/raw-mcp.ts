// Plain HTTP MCP requests for the benchmarks that hold many sessions: one `fetch` per message, no
// SDK client object per session, so the bench process stays small while the gateway holds the sessions.
export const LEGACY_VERSION = '2025-11-25';

export interface LegacySession {
  url: string;
  id: string;
}

let nextId = 1;

/** The JSON-RPC answer in a response, whether the server answered JSON or an SSE stream. */
async function answerOf(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    for (const line of text.split('\n')) {
      if (!line.startsWith('data:')) continue;
      const msg = JSON.parse(line.slice(5)) as Record<string, unknown>;
      if ('result' in msg || 'error' in msg) return msg;
    }
    throw new Error(`no answer in the event stream: ${text.slice(0, 200)}`);
  }
  return JSON.parse(text) as Record<string, unknown>;
}

function headers(session?: LegacySession): Record<string, string> {
  return {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    ...(session ? { 'mcp-session-id': session.id, 'mcp-protocol-version': LEGACY_VERSION } : {}),
  };
}

/** Opens a legacy (2025-11-25) session on a Streamable HTTP endpoint: initialize, then initialized. */
export async function openLegacySession(url: string): Promise<LegacySession> {
  const res = await fetch(url, {
    method: 'POST',
    headers: headers(),
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: nextId++,
      method: 'initialize',
      params: {
        protocolVersion: LEGACY_VERSION,
        capabilities: {},
        clientInfo: { name: 'gatehouse-bench', version: '0' },
      },
    }),
  });
  const id = res.headers.get('mcp-session-id');
  const answer = await answerOf(res);
  if (!id || !('result' in answer))
    throw new Error(`initialize: HTTP ${res.status} ${JSON.stringify(answer).slice(0, 200)}`);
  const session = { url, id };
  const note = await fetch(url, {
    method: 'POST',
    headers: headers(session),
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  await note.arrayBuffer();
  return session;
}

/** One request in a session; throws on a JSON-RPC error. */
export async function request(
  session: LegacySession,
  method: string,
  params: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const res = await fetch(session.url, {
    method: 'POST',
    headers: headers(session),
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
  });
  const answer = await answerOf(res);
  if (!('result' in answer)) throw new Error(`${method}: HTTP ${res.status} ${JSON.stringify(answer).slice(0, 200)}`);
  return answer.result as Record<string, unknown>;
}

/** Calls `echo` and checks that the text comes back. */
export async function echo(session: LegacySession, message: string, tool = 'echo'): Promise<string> {
  const result = await request(session, 'tools/call', { name: tool, arguments: { message } });
  const content = result.content as Array<{ type: string; text?: string }> | undefined;
  const text = content?.[0]?.text ?? '';
  if (tool === 'echo' && text !== message) throw new Error(`echo answered ${JSON.stringify(result).slice(0, 200)}`);
  return text;
}

export async function closeLegacySession(session: LegacySession): Promise<void> {
  const res = await fetch(session.url, { method: 'DELETE', headers: headers(session) });
  await res.arrayBuffer();
}

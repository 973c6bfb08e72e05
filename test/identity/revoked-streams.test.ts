// What a grant opened stays open only while the grant is in force: its legacy session (and the
// session's GET stream), its legacy HTTP+SSE stream and its 2026-07-28 listen stream end within a
// check interval of the grant being revoked or expiring, though no request comes on them; another
// grant's streams stay open; a revocation made through the gateway's own admin API ends them at
// once; what is watched (gatehouse_streams_watched) is let go as its client closes it. With JWTs, a legacy session's GET stream ends when the token of its
// latest request expires, and the session goes on with a refreshed token presented on it; an
// HTTP+SSE stream likewise follows the token of the latest message posted on it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ACCEPT_BOTH,
  featureServerCommand,
  modernHeaders,
  modernRequest,
  startFileGateway,
  type FileGateway,
  type JsonObject,
} from '../helpers/index.js';
import { sleep, waitUntil } from '../helpers/wait.js';
import { parseExposition } from '../observability/prom-text.js';
import {
  AUDIENCE,
  INITIALIZE,
  ISSUER,
  legacySession,
  mint,
  serveJwks,
  signingKey,
  type JwksServer,
  type SigningKey,
} from './support.js';

const ADMIN = 'revoked-streams-admin-token-0001';
/** The gateway looks at the grants of open streams this often. */
const CHECK_MS = 200;

let fgw: FileGateway;
let base: string;

/** The feature fixture allowed everything: the one server of every gateway here. */
const FX = { ...featureServerCommand('stdio', 'legacy'), policy: { version: '1', default: 'allow' } };

/** A gateway under `auth.mode: grants` with the admin token, on `state`, checking open streams every `grantCheckMs`. */
function grantsGateway(prefix: string, state: string, grantCheckMs?: number): Promise<FileGateway> {
  return startFileGateway(
    prefix,
    {
      listen: { host: '127.0.0.1', port: 0 },
      state,
      audit: 'none',
      auth: { mode: 'grants', admin_token: ADMIN },
      servers: { fx: FX },
    },
    grantCheckMs ? { grantCheckMs } : {},
  );
}

beforeAll(async () => {
  fgw = await grantsGateway('gatehouse-revoked-streams-', 'sqlite:./state.db', CHECK_MS);
  base = fgw.gateway.url;
}, 60_000);

afterAll(async () => {
  await fgw?.close();
});

async function api(method: string, path: string, body?: unknown, at = base): Promise<Response> {
  return fetch(`${at}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

async function createGrant(name: string, expires?: string, at = base): Promise<string> {
  const res = await api('POST', '/grants', { name, servers: ['fx'], ...(expires ? { expires } : {}) }, at);
  expect(res.status).toBe(201);
  return String(((await res.json()) as { token: string }).token);
}

/**
 * The three kinds of stream a grant can hold open, each as the response whose body is the stream;
 * `signal` closes them from the client's side.
 */
async function openStreams(token: string, signal?: AbortSignal, at = base): Promise<Record<string, Response>> {
  return (await openStreamsAndSession(token, signal, at)).streams;
}

/** openStreams, with the headers of the legacy session's requests. */
async function openStreamsAndSession(
  token: string,
  signal?: AbortSignal,
  at = base,
): Promise<{ streams: Record<string, Response>; session: Record<string, string> }> {
  const auth = { authorization: `Bearer ${token}` };
  const session = await legacySession(`${at}/mcp/fx`, token);
  const get = await fetch(`${at}/mcp/fx`, { headers: { ...session, accept: 'text/event-stream' }, signal });
  const sse = await fetch(`${at}/sse/fx`, { headers: { ...auth, accept: 'text/event-stream' }, signal });
  const listen: JsonObject = modernRequest('l1', 'subscriptions/listen', { notifications: { toolsListChanged: true } });
  const modern = await fetch(`${at}/mcp/fx`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json', accept: ACCEPT_BOTH, ...modernHeaders(listen) },
    body: JSON.stringify(listen),
    signal,
  });
  const streams = { 'legacy GET stream': get, 'HTTP+SSE stream': sse, 'listen stream': modern };
  for (const [what, res] of Object.entries(streams)) expect(res.status, what).toBe(200);
  return { streams, session };
}

/** The gateway's gatehouse_streams_watched gauge. */
async function watched(at: string): Promise<number | undefined> {
  const res = await fetch(`${at}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return parseExposition(await res.text()).value('gatehouse_streams_watched');
}

/** Whether the stream's body ends within `ms`. */
async function endsWithin(res: Response, ms: number): Promise<boolean> {
  const ended = res.text().then(
    () => true,
    () => true,
  );
  return Promise.race([ended, sleep(ms).then(() => false)]);
}

describe('open streams of a grant no longer in force', () => {
  it('end once the grant is revoked, though no request comes on them; another grant keeps its own', async () => {
    const goneStreams = await openStreams(await createGrant('revoked-streams-gone'));
    const kept = new AbortController();
    const keptStreams = await openStreams(await createGrant('revoked-streams-kept'), kept.signal);
    expect((await api('DELETE', '/grants/revoked-streams-gone')).status).toBe(200);
    for (const [what, res] of Object.entries(goneStreams)) expect(await endsWithin(res, 10_000), what).toBe(true);
    for (const [what, res] of Object.entries(keptStreams))
      expect(await endsWithin(res, 5 * CHECK_MS), what).toBe(false);
    kept.abort();
  }, 60_000);

  it('end once the grant expires', async () => {
    const streams = await openStreams(await createGrant('revoked-streams-brief', '3s'));
    for (const [what, res] of Object.entries(streams)) expect(await endsWithin(res, 15_000), what).toBe(true);
  }, 60_000);
});

describe('a revocation through this gateway', () => {
  let atDefault: FileGateway;
  beforeAll(async () => {
    // The periodic check at its default, 30 s: only the revocation itself can end the streams sooner.
    atDefault = await grantsGateway('gatehouse-revoke-now-', 'memory:');
  }, 60_000);
  afterAll(async () => {
    await atDefault?.close();
  });

  it("ends the grant's open streams at once, not at the next periodic check", async () => {
    const at = atDefault.gateway.url;
    const streams = await openStreams(await createGrant('revoked-now', undefined, at), undefined, at);
    expect((await api('DELETE', '/grants/revoked-now', undefined, at)).status).toBe(200);
    for (const [what, res] of Object.entries(streams)) expect(await endsWithin(res, 5_000), what).toBe(true);
    await waitUntil(async () => (await watched(at)) === 0, 5_000);
  }, 60_000);

  it('watches the session and streams a grant holds, and lets go of each as its client closes it', async () => {
    const at = atDefault.gateway.url;
    const closing = new AbortController();
    const { session } = await openStreamsAndSession(
      await createGrant('closed-by-client', undefined, at),
      closing.signal,
      at,
    );
    // The listen stream answers its headers before it is watched: counted a moment later.
    await waitUntil(async () => (await watched(at)) === 3, 5_000);
    closing.abort();
    // The session outlives its GET stream: watched until the client ends it.
    await waitUntil(async () => (await watched(at)) === 1, 5_000);
    expect((await fetch(`${at}/mcp/fx`, { method: 'DELETE', headers: session })).status).toBe(200);
    expect(await watched(at)).toBe(0);
  }, 60_000);
});

describe('a legacy session under JWTs', () => {
  let jwks: JwksServer;
  let key: SigningKey;
  let jwtGateway: FileGateway;
  beforeAll(async () => {
    key = await signingKey('streams-k1');
    jwks = await serveJwks([key]);
    jwtGateway = await startFileGateway(
      'gatehouse-jwt-streams-',
      {
        listen: { host: '127.0.0.1', port: 0 },
        state: 'memory:',
        audit: 'none',
        // A second's leeway past exp, so that the test need not wait the default minute for it.
        auth: { mode: 'jwt', jwt: { issuer: ISSUER, audience: AUDIENCE, jwks_url: jwks.url, clock_skew: 1 } },
        servers: { fx: FX },
      },
      { grantCheckMs: CHECK_MS },
    );
  }, 60_000);
  afterAll(async () => {
    await jwtGateway?.close();
    await jwks?.close();
  });
  /** A JWT for every server, expiring in `seconds`. */
  const tokenFor = (seconds: number) => mint(key, { claims: { gatehouse_servers: '*' }, expiresIn: seconds });

  it('its GET stream ends when the token of its latest request expires, and the session takes a refreshed token after that; one refreshed before keeps its stream', async () => {
    const url = `${jwtGateway.gateway.url}/mcp/fx`;
    const stream = async (session: Record<string, string>, signal?: AbortSignal) => {
      const res = await fetch(url, {
        headers: { ...session, accept: 'text/event-stream' },
        ...(signal ? { signal } : {}),
      });
      expect(res.status).toBe(200);
      return res;
    };
    /** A ping on a session, presenting `bearer` instead of the token the session was opened with. */
    const pingWith = (session: Record<string, string>, bearer: string, id: number) =>
      fetch(url, {
        method: 'POST',
        headers: {
          ...session,
          authorization: `Bearer ${bearer}`,
          'content-type': 'application/json',
          accept: ACCEPT_BOTH,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id, method: 'ping' }),
      });
    const lapsedSession = await legacySession(url, await tokenFor(3));
    const lapsed = await stream(lapsedSession);
    const refreshedSession = await legacySession(url, await tokenFor(3));
    const kept = new AbortController();
    const refreshed = await stream(refreshedSession, kept.signal);
    // The client refreshes its token and uses it on the session, as a client with a token about to expire does.
    const fresh = await tokenFor(300);
    expect((await pingWith(refreshedSession, fresh, 2)).status).toBe(200);
    expect(await endsWithin(lapsed, 15_000)).toBe(true);
    expect(await endsWithin(refreshed, 2_000)).toBe(false);
    kept.abort();
    // A client that refreshes only once it is refused goes on with its session, not a new one.
    const late = await tokenFor(300);
    const after = await pingWith(lapsedSession, late, 3);
    expect(after.status).toBe(200);
    expect(JSON.stringify(await after.json())).toContain('"result"');
  }, 60_000);

  it("an HTTP+SSE stream follows the token of the latest message posted on it: a newer token keeps it open past the first one's exp", async () => {
    const base = jwtGateway.gateway.url;
    const first = await tokenFor(3);
    const newer = await tokenFor(300);
    const kept = new AbortController();
    const res = await fetch(`${base}/sse/fx`, {
      headers: { authorization: `Bearer ${first}`, accept: 'text/event-stream' },
      signal: kept.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    while (!/event: endpoint\ndata: (\S+)/.test(text)) {
      const chunk = await reader.read();
      if (chunk.done) throw new Error('the stream ended before it named its endpoint');
      text += new TextDecoder().decode(chunk.value);
    }
    const endpoint = /event: endpoint\ndata: (\S+)/.exec(text)![1]!;
    const posted = await fetch(`${base}${endpoint}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${newer}`, 'content-type': 'application/json' },
      body: JSON.stringify(INITIALIZE),
    });
    expect(posted.status).toBe(202);
    // Past the first token's exp and leeway (4 s) and a few checks: the stream is still open.
    const ended = (async () => {
      for (;;) if ((await reader.read()).done) return true;
    })().catch(() => true);
    expect(await Promise.race([ended, sleep(7_000).then(() => false)])).toBe(false);
    kept.abort();
  }, 60_000);
});

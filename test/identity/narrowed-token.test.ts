// A legacy session on /mcp receives the notifications of a server only while the token of its
// latest request may use that server: a refreshed JWT that no longer names a server stops that
// server's change notifications (and its log messages) reaching the session, though the session was
// opened with a token that named it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  featureServerCommand,
  modernRequest,
  post,
  postModern,
  startFileGateway,
  type FileGateway,
} from '../helpers/index.js';
import { sleep } from '../helpers/wait.js';
import {
  AUDIENCE,
  ISSUER,
  legacySession,
  mint,
  serveJwks,
  signingKey,
  type JwksServer,
  type SigningKey,
} from './support.js';

let jwks: JwksServer;
let key: SigningKey;
let fgw: FileGateway;
let base: string;

beforeAll(async () => {
  key = await signingKey('narrowed-k1');
  jwks = await serveJwks([key]);
  const server = { ...featureServerCommand('stdio', 'legacy'), policy: { version: '1', default: 'allow' } };
  fgw = await startFileGateway('gatehouse-narrowed-token-', {
    listen: { host: '127.0.0.1', port: 0 },
    state: 'memory:',
    audit: 'none',
    auth: { mode: 'jwt', jwt: { issuer: ISSUER, audience: AUDIENCE, jwks_url: jwks.url } },
    servers: { a: server, b: server },
  });
  base = fgw.gateway.url;
}, 60_000);

afterAll(async () => {
  await fgw?.close();
  await jwks?.close();
});

const tokenFor = (subject: string, servers: string) => mint(key, { subject, claims: { gatehouse_servers: servers } });

/** Opens a legacy session on `url` with `token`, and its GET stream; the session's headers and what the stream has carried. */
async function sessionWithStream(url: string, token: string) {
  const session = await legacySession(url, token);
  const stream = await fetch(url, { headers: { ...session, accept: 'text/event-stream' } });
  expect(stream.status).toBe(200);
  const seen = { text: '' };
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of stream.body!) seen.text += decoder.decode(chunk as Uint8Array, { stream: true });
  })().catch(() => undefined);
  return { session, seen, stop: () => stream.body?.cancel().catch(() => undefined) };
}

const listChanged = (text: string) => text.split('notifications/tools/list_changed').length - 1;

/** Has a client with every server add a tool on `server`, which announces tools/list_changed. */
async function addToolOn(server: string): Promise<void> {
  const other = await tokenFor('operator', '*');
  const res = await postModern(
    `${base}/mcp/${server}`,
    modernRequest(9, 'tools/call', { name: 'add_tool', arguments: {} }),
    { authorization: `Bearer ${other}` },
  );
  expect(res.status).toBe(200);
  expect(JSON.stringify(res.messages.at(-1))).toContain('result');
}

describe('a legacy session on /mcp whose later token no longer names server b', () => {
  it("no longer receives b's notifications; a's still arrive", async () => {
    const url = `${base}/mcp`;
    const { session, seen, stop } = await sessionWithStream(url, await tokenFor('carol', 'a b'));
    try {
      // The next request comes with a refreshed token for server a only.
      const narrowed = { ...session, authorization: `Bearer ${await tokenFor('carol', 'a')}` };
      const ping = await post(url, { jsonrpc: '2.0', id: 2, method: 'ping' }, narrowed);
      expect(ping.status).toBe(200);
      await addToolOn('b');
      // Server a, which the token still names: its notification arrives, and is the only one.
      await addToolOn('a');
      for (let i = 0; i < 100 && listChanged(seen.text) === 0; i++) await sleep(50);
      await sleep(300);
      expect(listChanged(seen.text)).toBe(1);
    } finally {
      await stop();
    }
  }, 30_000);
});

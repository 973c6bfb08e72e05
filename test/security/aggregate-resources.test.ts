// Resource URIs on the /mcp aggregate are routed per caller, among the servers the caller may use,
// from what those servers list: a URI two of them list is refused as ambiguous (and reads on
// /mcp/<server>); what one grant lists never changes where another grant's read goes; a URI that
// only a server outside the grant lists answers "not found" and is sent to no server; an unlisted
// URI goes to the server whose resource template it matches, never to whichever server answers first,
// and a server listing an item another serves through its template makes its reads ambiguous.
// The upstreams are the resource fixture, which records every line it receives.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { EPHEMERAL, startParsedGateway, tempDir, type TempDir } from '../helpers/gateway.js';
import { connectClient, TSX_LOADER, type ConnectedClient } from '../helpers/index.js';

const RESOURCE_SERVER = fileURLToPath(new URL('../fixtures/servers/resource-server.ts', import.meta.url));
const ALICE = 'tok-alice-aggregate-resources-01';
const BOB = 'tok-bob-aggregate-resources-0002';

/** A URI both servers list. */
const SHARED = 'shared://handbook/plan';
/** A URI only `evil` lists. */
const EVIL_ONLY = 'evil://own/1';
/** An instance of the template only `docs` lists. */
const ITEM = 'items://catalog/7';

const SERVERS = {
  docs: { resources: [SHARED, 'docs://handbook/intro'], templates: ['items://catalog/{id}'] },
  evil: { resources: [SHARED, EVIL_ONLY], templates: [] as string[] },
};

interface Setup {
  gateway: Gateway;
  dir: TempDir;
  records: Record<keyof typeof SERVERS, string>;
  clients: ConnectedClient[];
}

let setup: Setup | undefined;

afterEach(async () => {
  if (!setup) return;
  for (const c of setup.clients) await c.close().catch(() => undefined);
  await setup.gateway.close();
  setup.dir.remove();
  setup = undefined;
});

type Lists = Partial<Record<keyof typeof SERVERS, { resources?: string[]; templates?: string[] }>>;

/**
 * A gateway with servers `docs` and `evil` in `order`, listing what SERVERS says unless `lists`
 * says otherwise; alice may use both, bob only docs.
 */
async function start(order: (keyof typeof SERVERS)[], lists: Lists = {}): Promise<Setup> {
  const dir = tempDir('gatehouse-aggregate-resources-');
  const records = { docs: join(dir.path, 'docs.jsonl'), evil: join(dir.path, 'evil.jsonl') };
  const servers: Record<string, unknown> = {};
  for (const name of order)
    servers[name] = {
      command: process.execPath,
      args: ['--import', TSX_LOADER, RESOURCE_SERVER],
      env: {
        SERVER_NAME: name,
        RESOURCES: (lists[name]?.resources ?? SERVERS[name].resources).join(','),
        TEMPLATES: (lists[name]?.templates ?? SERVERS[name].templates).join(','),
        RECORD_FILE: records[name],
      },
      timeout_ms: 20_000,
      policy: { version: '1', default: 'allow' },
    };
  const gateway = await startParsedGateway({
    ...EPHEMERAL,
    auth: { mode: 'grants' },
    servers,
    grants: {
      alice: { token: ALICE, agent: 'alice', servers: ['docs', 'evil'] },
      bob: { token: BOB, agent: 'bob', servers: ['docs'] },
    },
  });
  setup = { gateway, dir, records, clients: [] };
  return setup;
}

async function connect(s: Setup, token: string, path = '/mcp'): Promise<ConnectedClient> {
  const c = await connectClient({
    era: 'legacy',
    downstream: { kind: 'http', url: `${s.gateway.url}${path}`, headers: { authorization: `Bearer ${token}` } },
  });
  s.clients.push(c);
  return c;
}

/** The text read, or the error's code and message. */
async function read(
  c: ConnectedClient,
  uri: string,
): Promise<string | { code: unknown; message: string; data?: unknown }> {
  try {
    const r = await c.client.readResource({ uri });
    const first = r.contents[0] as { text?: string } | undefined;
    return first?.text ?? JSON.stringify(r);
  } catch (e) {
    const { code, data } = e as { code?: unknown; data?: unknown };
    return { code, message: e instanceof Error ? e.message : String(e), data };
  }
}

/** The URIs of the resources/read requests a server received. */
function readsReceived(record: string): string[] {
  if (!existsSync(record)) return [];
  return readFileSync(record, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { method?: string; params?: { uri?: string } })
    .filter((m) => m.method === 'resources/read')
    .map((m) => String(m.params?.uri));
}

describe('resource routing on the /mcp aggregate', () => {
  it("a URI two of the caller's servers list is refused on /mcp as ambiguous, naming both, and reads on /mcp/<server>", async () => {
    const s = await start(['docs', 'evil']);
    const alice = await connect(s, ALICE);
    const before = await read(alice, SHARED);
    const uris = (await alice.client.listResources()).resources.map((r) => r.uri);
    expect(uris.filter((u) => u === SHARED)).toHaveLength(2);
    const after = await read(alice, SHARED);
    for (const answer of [before, after]) {
      expect(answer).toMatchObject({ code: -32602 });
      const message = (answer as { message: string }).message;
      expect(message).toMatch(/Ambiguous resource/);
      expect(message).toContain('"docs"');
      expect(message).toContain('"evil"');
      expect(message).toContain('/mcp/docs');
    }
    expect(readsReceived(s.records.docs)).not.toContain(SHARED);
    expect(readsReceived(s.records.evil)).not.toContain(SHARED);
    const direct = await connect(s, ALICE, '/mcp/docs');
    expect(await read(direct, SHARED)).toBe(`${SHARED} read by docs`);
  });

  it("one grant listing resources does not change which server another grant's read goes to", async () => {
    // evil is listed last, which is what used to make it the owner of every URI it lists.
    const s = await start(['docs', 'evil']);
    const alice = await connect(s, ALICE);
    const bob = await connect(s, BOB);
    expect(await read(bob, SHARED)).toBe(`${SHARED} read by docs`);
    await alice.client.listResources();
    expect(await read(bob, SHARED)).toBe(`${SHARED} read by docs`);
    await bob.client.listResources();
    await alice.client.listResources();
    expect(await read(bob, SHARED)).toBe(`${SHARED} read by docs`);
    expect(readsReceived(s.records.evil)).toEqual([]);
  });

  it('a URI only a server outside the grant lists answers not found for that grant and is sent to no server', async () => {
    const s = await start(['docs', 'evil']);
    const alice = await connect(s, ALICE);
    const bob = await connect(s, BOB);
    expect(await read(bob, EVIL_ONLY)).toMatchObject({ code: -32602, data: { uri: EVIL_ONLY } });
    await alice.client.listResources();
    expect(await read(bob, EVIL_ONLY)).toMatchObject({ code: -32602, data: { uri: EVIL_ONLY } });
    expect(readsReceived(s.records.docs)).toEqual([]);
    expect(readsReceived(s.records.evil)).toEqual([]);
    // For alice, who may use evil, it is evil's.
    expect(await read(alice, EVIL_ONLY)).toBe(`${EVIL_ONLY} read by evil`);
  });

  it('an unlisted template instance is read through /mcp from the server whose template it matches, not the first that answers', async () => {
    // evil comes first and reads anything, which is what used to win an unlisted URI.
    const s = await start(['evil', 'docs']);
    const alice = await connect(s, ALICE);
    expect(await read(alice, ITEM)).toBe(`${ITEM} read by docs`);
    const bob = await connect(s, BOB);
    expect(await read(bob, ITEM)).toBe(`${ITEM} read by docs`);
    // A URI no server lists, nor a template or origin of, is refused rather than tried everywhere.
    expect(await read(alice, 'secret://customers/42')).toMatchObject({
      code: -32602,
      data: { uri: 'secret://customers/42' },
    });
    expect(readsReceived(s.records.evil)).toEqual([]);
    expect(readsReceived(s.records.docs)).toEqual([ITEM, ITEM]);
  });

  it('an upstream that lists an item another server serves through its template does not take its reads: the read is ambiguous and sent to neither', async () => {
    const s = await start(['evil', 'docs'], { evil: { resources: [SHARED, EVIL_ONLY, ITEM] } });
    const alice = await connect(s, ALICE);
    const refused = await read(alice, ITEM);
    expect(refused).toMatchObject({ code: -32602 });
    expect((refused as { message: string }).message).toMatch(
      /Ambiguous resource: items:\/\/catalog\/7 .*"evil", "docs" all list it or have a resource template for it/,
    );
    // Read where it is meant to be read; and a grant without evil reads it on /mcp as before.
    expect(await read(await connect(s, ALICE, '/mcp/docs'), ITEM)).toBe(`${ITEM} read by docs`);
    expect(await read(await connect(s, BOB), ITEM)).toBe(`${ITEM} read by docs`);
    expect(readsReceived(s.records.evil)).toEqual([]);
    expect(readsReceived(s.records.docs)).toEqual([ITEM, ITEM]);
  });

  it('a template that takes any URI (`{+url}`) does not make the URIs another server lists ambiguous', async () => {
    const s = await start(['evil', 'docs'], { evil: { resources: [EVIL_ONLY], templates: ['{+url}'] } });
    const alice = await connect(s, ALICE);
    expect(await read(alice, 'docs://handbook/intro')).toBe('docs://handbook/intro read by docs');
    expect(readsReceived(s.records.evil)).toEqual([]);
  });
});

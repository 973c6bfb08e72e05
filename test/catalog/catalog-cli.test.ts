// Proves `gatehouse catalog`: with two configured servers (the dataset fixture serving the real
// tools of server-memory and of server-time, the second with `pins: off`), the table lists every
// tool of every server under TOOL, CATEGORY, RISK, PIN and WHY with the classifier's own category,
// risk and reasons and the pin status (pinned, or off); `catalog <server>` lists only that server;
// `--json` gives the same catalog as JSON; and an unknown server exits 2 with a message naming the
// configured servers (for `policy suggest` too); a server that cannot be started is reported and
// the command exits 1.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyTool } from '../../src/catalog/classify.js';
import { datasetTools } from '../fixtures/servers/dataset-server.js';
import { TSX_LOADER } from '../helpers/index.js';
import { runCli } from '../helpers/cli.js';

const DATASET_SERVER = fileURLToPath(new URL('../fixtures/servers/dataset-server.ts', import.meta.url));

/** Configured name → dataset server it serves, and whether its tools are pinned. */
const SERVERS = {
  mem: { dataset: 'memory', pin: 'pinned' },
  clock: { dataset: 'time', pin: 'off' },
} as const;
type Name = keyof typeof SERVERS;
const NAMES = Object.keys(SERVERS) as Name[];

/** A row of the table; `why` is the reasons joined with "; " (a reason may itself contain "; "). */
interface Row {
  name: string;
  category: string;
  risk: string;
  pin: string;
  why: string;
}

/** What the catalog must say of a server: the classifier's verdict on each of its real tools. */
function expectedRows(name: Name): Row[] {
  const { dataset, pin } = SERVERS[name];
  return datasetTools(dataset).map((tool) => {
    const c = classifyTool(tool as Parameters<typeof classifyTool>[0]);
    return { name: tool.name, category: c.category, risk: c.risk, pin, why: c.reasons.join('; ') };
  });
}

interface CliResult {
  code: number;
  out: string;
  err: string;
}

async function cli(...args: string[]): Promise<CliResult> {
  const r = await runCli(args);
  return { code: r.code ?? 1, out: r.stdout, err: r.stderr };
}

/**
 * Reads the table back: a `<server> (<n> tools)` title, the header, then one row per tool whose
 * first four columns are padded to the header's widths and whose last column is the reasons.
 */
function parseTables(out: string): Map<string, { count: number; rows: Row[] }> {
  const tables = new Map<string, { count: number; rows: Row[] }>();
  for (const block of out.trim().split(/\n\n+/)) {
    const [title, header, ...lines] = block.split('\n');
    const m = /^(\S+) \((\d+) tools\)$/.exec(title ?? '');
    if (!m) throw new Error(`not a table title: ${title}`);
    expect(header).toMatch(/^TOOL +CATEGORY +RISK +PIN +WHY$/);
    const starts = ['TOOL', 'CATEGORY', 'RISK', 'PIN', 'WHY'].map((h) => header!.indexOf(h));
    const cell = (line: string, i: number) => line.slice(starts[i], starts[i + 1]).trim();
    tables.set(m[1]!, {
      count: Number(m[2]),
      rows: lines.map((line) => ({
        name: cell(line, 0),
        category: cell(line, 1),
        risk: cell(line, 2),
        pin: cell(line, 3),
        why: line.slice(starts[4]),
      })),
    });
  }
  return tables;
}

let dir: string;
let configFile: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-catalog-cli-'));
  configFile = join(dir, 'gatehouse.json');
  const servers: Record<string, unknown> = {};
  for (const name of NAMES) {
    servers[name] = {
      command: process.execPath,
      args: ['--import', TSX_LOADER, DATASET_SERVER, '--server', SERVERS[name].dataset],
      timeout_ms: 20_000,
      ...(SERVERS[name].pin === 'off' ? { pins: 'off' } : {}),
    };
  }
  writeFileSync(
    configFile,
    JSON.stringify({ listen: { host: '127.0.0.1', port: 0 }, state: 'memory:', audit: 'none', servers }),
  );
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('gatehouse catalog', () => {
  let table: CliResult;
  let json: CliResult;

  beforeAll(async () => {
    [table, json] = await Promise.all([cli('catalog', '-c', configFile), cli('catalog', '--json', '-c', configFile)]);
  }, 60_000);

  it('prints a table of every tool of every configured server with category, risk, pin status and reasons', () => {
    expect(table.code, table.err).toBe(0);
    const tables = parseTables(table.out);
    expect([...tables.keys()]).toEqual(NAMES);
    for (const name of NAMES) {
      const expected = expectedRows(name);
      expect(tables.get(name)!.count).toBe(expected.length);
      expect(tables.get(name)!.rows).toEqual(expected);
    }
  });

  it('the table covers tools of several categories, each with the risk its category carries', () => {
    const rows = parseTables(table.out).get('mem')!.rows;
    const risks = new Map(rows.map((r) => [r.category, r.risk]));
    expect(risks.get('read')).toBe('low');
    expect(risks.get('write')).toBe('medium');
    expect(risks.get('destructive')).toBe('critical');
    for (const r of rows) expect(r.why.length, r.name).toBeGreaterThan(0);
  });

  it('--json gives the same catalog as JSON, with each tool’s definition', () => {
    expect(json.code, json.err).toBe(0);
    const catalogs = JSON.parse(json.out) as {
      server: string;
      ok: boolean;
      tools: {
        server: string;
        name: string;
        category: string;
        risk: string;
        pin: string;
        reasons: string[];
        description?: string;
        inputSchema?: unknown;
      }[];
    }[];
    expect(catalogs.map((c) => c.server)).toEqual(NAMES);
    const tables = parseTables(table.out);
    for (const c of catalogs) {
      expect(c.ok).toBe(true);
      const asRows = c.tools.map((t) => ({
        name: t.name,
        category: t.category,
        risk: t.risk,
        pin: t.pin,
        why: t.reasons.join('; '),
      }));
      expect(asRows).toEqual(tables.get(c.server)!.rows);
      const real = new Map(datasetTools(SERVERS[c.server as Name].dataset).map((t) => [t.name, t]));
      for (const t of c.tools) {
        expect(t.server).toBe(c.server);
        expect(t.description).toBe(real.get(t.name)!.description);
        expect(t.inputSchema).toEqual(real.get(t.name)!.inputSchema);
      }
    }
  });

  it('catalog <server> lists only that server', async () => {
    const one = await cli('catalog', 'clock', '--json', '-c', configFile);
    expect(one.code, one.err).toBe(0);
    const catalogs = JSON.parse(one.out) as { server: string; tools: { name: string; pin: string }[] }[];
    expect(catalogs.map((c) => c.server)).toEqual(['clock']);
    expect(catalogs[0]!.tools.map((t) => t.name)).toEqual(expectedRows('clock').map((r) => r.name));
    expect(catalogs[0]!.tools.every((t) => t.pin === 'off')).toBe(true);
  });

  it('an unknown server exits 2 with a message naming the configured servers', async () => {
    const unknown = await cli('catalog', 'nope', '-c', configFile);
    expect(unknown.code).toBe(2);
    expect(unknown.out).toBe('');
    expect(unknown.err).toContain('unknown server "nope"; configured servers: mem, clock');
  });

  it('policy suggest with an unknown server also exits 2 naming the configured servers', async () => {
    const unknown = await cli('policy', 'suggest', 'nope', '-c', configFile);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('unknown server "nope"; configured servers: mem, clock');
  });

  it('a server that cannot be started is reported as unreadable and the command exits 1', async () => {
    const file = join(dir, 'broken.json');
    writeFileSync(
      file,
      JSON.stringify({
        listen: { host: '127.0.0.1', port: 0 },
        state: 'memory:',
        audit: 'none',
        servers: { broken: { command: join(dir, 'no-such-program') } },
      }),
    );
    const broken = await cli('catalog', '-c', file);
    expect(broken.code).toBe(1);
    expect(broken.out).toMatch(/^broken: could not be read: .*no-such-program/);
  });
});

// Proves `gatehouse import` on a client file in each documented format (Claude Desktop, Cursor,
// VS Code with inputs and comments, Windsurf): the written gatehouse.yaml loads with every server
// under a valid name, each server gets a suggested policy read from its real tools (or a deny-all
// policy with a note when it cannot start), the client snippet points at Gatehouse, --dry-run
// writes nothing, and existing files are refused without --force.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { loadPolicy } from '../../src/policy/compile.js';
import { readStructuredFile } from '../../src/config/structured-file.js';
import { runCli } from '../helpers/cli.js';

const SPAWN_TIMEOUT_MS = 120_000;
const FIXTURES = resolve('test/fixtures/client-configs');
const fixture = (path: string) => join(FIXTURES, path);

let root: string;
let n = 0;
/** A fresh empty folder for one test's output. */
const outDir = () => mkdtempSync(join(root, `out-${n++}-`));

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'gatehouse-import-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

// The fixture files start servers by paths relative to the repository, as a user's file names
// paths that work where the client runs; so the command runs here and writes elsewhere with -o.
const importFile = (file: string, out: string, ...args: string[]) =>
  runCli(['import', file, '-o', join(out, 'gatehouse.yaml'), ...args]);

async function policyAt(dir: string, server: string) {
  return loadPolicy(await readStructuredFile(join(dir, 'policies', `${server}.yaml`)));
}

describe.concurrent('gatehouse import', { timeout: SPAWN_TIMEOUT_MS }, () => {
  it('imports Claude Desktop: names normalised with collisions resolved, policies from real tools, a failed server denied, a stdio snippet', async () => {
    const out = outDir();
    const run = await importFile(fixture('claude-desktop/claude_desktop_config.json'), out);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('(Claude Desktop)');
    expect(run.stdout).toContain('Memory Server -> memory-server');
    expect(run.stdout).toContain('memory_server -> memory-server-2');
    expect(run.stderr).toMatch(/failed broken: could not start: .*gatehouse-no-such-mcp-server/);
    expect(run.stderr).toMatch(/ok {5}memory-server: 9 tools/);

    const loaded = await loadConfig({ file: join(out, 'gatehouse.yaml') });
    expect(Object.keys(loaded.config.servers)).toEqual(['memory-server', 'memory-server-2', 'broken']);
    expect(loaded.config.servers['memory-server']).toMatchObject({
      transport: 'stdio',
      command: 'node',
      env: { MEMORY_FILE_PATH: '/tmp/gatehouse-import-memory.json' },
      policy: join(out, 'policies', 'memory-server.yaml'),
    });

    const memory = await policyAt(out, 'memory-server');
    expect(memory.source.default).toBe('deny');
    expect(memory.source.tools?.delete_entities).toMatchObject({ action: 'require_approval' });
    expect(memory.source.tools?.read_graph).toMatchObject({ action: 'allow', limits: [] });
    const broken = readFileSync(join(out, 'policies', 'broken.yaml'), 'utf8');
    expect(broken).toContain('gatehouse policy suggest broken -o policies/broken.yaml --force');
    expect((await policyAt(out, 'broken')).source).toMatchObject({ default: 'deny' });
    expect(run.stdout).toContain('broken could not be started, so its policy denies every call');

    const snippet = JSON.parse(/\n(\{\n {2}"mcpServers"[\s\S]*?\n\})\n/.exec(run.stdout)![1]!) as {
      mcpServers: Record<string, { command: string; args: string[] }>;
    };
    expect(snippet.mcpServers['memory-server']).toEqual({
      command: 'gatehouse',
      args: ['stdio', 'memory-server', '-c', join(out, 'gatehouse.yaml')],
    });
  });

  it('imports Cursor: ${env:NAME} becomes ${NAME}, and the snippet gives each server its gateway URL', async () => {
    const out = outDir();
    const run = await importFile(fixture('cursor/.cursor/mcp.json'), out);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('(Cursor)');
    const loaded = await loadConfig({ file: join(out, 'gatehouse.yaml'), env: { DOCS_TOKEN: 't0k' } });
    expect(loaded.config.servers['remote-docs']).toMatchObject({
      transport: 'streamable-http',
      url: 'https://docs.example.invalid/mcp',
      headers: { Authorization: 'Bearer t0k' },
    });
    expect(run.stderr).toContain('failed remote-docs: could not start: environment variable not set: DOCS_TOKEN');
    expect((await policyAt(out, 'example')).source.tools?.delete_note).toMatchObject({ action: 'require_approval' });
    expect(run.stdout).toContain('"url": "http://127.0.0.1:8080/mcp/example"');
    expect(run.stdout).toContain('"url": "http://127.0.0.1:8080/mcp/remote-docs"');
    expect(run.stdout).not.toContain('Authorization": "Bearer ${env');
  });

  it('imports VS Code (comments, trailing commas, inputs): ${input:id} becomes an environment variable the user is told to set', async () => {
    const out = outDir();
    const run = await importFile(fixture('vscode/.vscode/mcp.json'), out);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('(VS Code)');
    expect(run.stdout).toContain('Issue-Tracker -> issue-tracker');
    expect(run.stdout).toContain('set API_KEY (Issue tracker API key): it replaces ${input:api-key} from VS Code');
    const text = readFileSync(join(out, 'gatehouse.yaml'), 'utf8');
    expect(text).toContain('Bearer ${API_KEY}');
    expect(text).toContain('Set these environment variables before starting: API_KEY');
    const loaded = await loadConfig({ file: join(out, 'gatehouse.yaml'), env: { API_KEY: 'k' } });
    // ${workspaceFolder} is the folder that holds .vscode/.
    expect(loaded.config.servers.filesystem?.args).toContain(fixture('vscode'));
    const fs = await policyAt(out, 'filesystem');
    expect(fs.source.tools?.read_text_file).toMatchObject({ action: 'allow', limits: [] });
    expect(fs.source.tools?.write_file).toBeDefined();
    expect(run.stdout).toMatch(
      /"filesystem": \{\n\s+"type": "http",\n\s+"url": "http:\/\/127\.0\.0\.1:8080\/mcp\/filesystem"/,
    );
  });

  it('imports Windsurf: serverUrl ending in /sse is an SSE server; --grant adds a token header to every client snippet', async () => {
    const out = outDir();
    const run = await importFile(fixture('windsurf/mcp_config.json'), out, '--grant', 'laptop', '--client', 'all');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('(Windsurf)');
    const loaded = await loadConfig({
      file: join(out, 'gatehouse.yaml'),
      env: { SEARCH_KEY: 's', GATEHOUSE_TOKEN: 'secret-token' },
    });
    expect(loaded.config.servers.search).toMatchObject({ transport: 'sse', headers: { 'X-Api-Key': 's' } });
    expect(loaded.config.auth.mode).toBe('grants');
    expect(loaded.config.grants.laptop).toMatchObject({ token: 'secret-token', servers: ['example', 'search'] });
    expect(run.stdout).toContain('"serverUrl": "http://127.0.0.1:8080/mcp/example"');
    expect(run.stdout).toContain('"Authorization": "Bearer ${env:GATEHOUSE_TOKEN}"');
    expect(run.stdout).toContain('"Authorization": "Bearer ${input:gatehouse-token}"');
    expect(run.stdout).toContain('"GATEHOUSE_GRANT": "<the value of GATEHOUSE_TOKEN>"');
    for (const client of ['Windsurf', 'Cursor', 'VS Code', 'Claude Desktop', 'Claude Code']) {
      expect(run.stdout).toContain(`\n${client}: put this in `);
    }
  });

  it('--dry-run prints the files it would write and writes nothing', async () => {
    const out = outDir();
    const run = await importFile(fixture('claude-desktop/claude_desktop_config.json'), out, '--dry-run');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Dry run: nothing was written.');
    expect(run.stdout).toContain(`--- ${join(out, 'gatehouse.yaml')}`);
    expect(run.stdout).toContain(`--- ${join(out, 'policies', 'memory-server.yaml')}`);
    expect(run.stdout).toContain('delete_entities:\n    action: require_approval');
    expect(readdirSync(out)).toEqual([]);
  });

  it('refuses to overwrite an existing file without --force (exit 2, naming the file and the flag); --force overwrites', async () => {
    const out = outDir();
    writeFileSync(join(out, 'gatehouse.yaml'), '# mine\n');
    const refused = await importFile(fixture('windsurf/mcp_config.json'), out);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${join(out, 'gatehouse.yaml')} already exists; add --force to overwrite`);
    expect(readFileSync(join(out, 'gatehouse.yaml'), 'utf8')).toBe('# mine\n');
    expect(existsSync(join(out, 'policies'))).toBe(false);

    const forced = await importFile(fixture('windsurf/mcp_config.json'), out, '--force');
    expect(forced.code, forced.stderr).toBe(0);
    expect(readFileSync(join(out, 'gatehouse.yaml'), 'utf8')).toContain('servers:');
  });

  it('exits 2 with a message for a file that is no MCP client config', async () => {
    const out = outDir();
    writeFileSync(join(out, 'other.json'), '{"name": "not a client config"}');
    const run = await importFile(join(out, 'other.json'), out);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('has neither "mcpServers"');
  });
});

// Proves the command line as users meet it, by running `node --import tsx src/cli/main.ts` as a real
// process: exit codes (0 ok, 2 usage or validation error), every problem printed with its path for a
// bad config or policy, the JSON Schemas printed by `schema`, `--help` with an example for every
// command, and `stdio` refusing an unknown server by listing the configured ones.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { configJsonSchema, policyJsonSchema } from '../../src/config/json-schema.js';

// Each test starts node and tsx; on a busy machine that takes seconds, so allow more than the default.
const SPAWN_TIMEOUT_MS = 90_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function gatehouse(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return runCli(args, { cwd: opts.cwd ?? dir, ...(opts.env ? { env: opts.env } : {}) });
}

let dir: string;
let emptyDir: string;
const file = (name: string) => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-'));
  emptyDir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-empty-'));
  writeFileSync(file('good-policy.yaml'), 'version: "1"\ndefault: deny\ntools:\n  "get_*": {}\n');
  writeFileSync(
    file('bad-policy.json'),
    JSON.stringify({ version: '1', default: 'deny', tools: { send: { limits: [{ max: -1, window: 'week' }] } } }),
  );
  writeFileSync(
    file('bad-config.yaml'),
    'listen: { host: 0.0.0.0 }\nservers:\n  Mail_Server: { command: mailer }\n  web: { url: "ftp://x" }\n',
  );
  writeFileSync(
    file('two-servers.yaml'),
    'servers:\n  github: { url: "https://gh.example/mcp" }\n  memory: { command: x }\n',
  );
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(emptyDir, { recursive: true, force: true });
});

describe.concurrent('gatehouse schema', { timeout: SPAWN_TIMEOUT_MS }, () => {
  it('prints the config JSON Schema and exits 0', async () => {
    const run = await gatehouse(['schema', 'config']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual(configJsonSchema());
    expect(JSON.parse(run.stdout)).toMatchObject({ title: 'Gatehouse configuration', type: 'object' });
  });

  it('prints the policy JSON Schema and exits 0', async () => {
    const run = await gatehouse(['schema', 'policy']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual(policyJsonSchema());
  });

  it('exits 2 for an unknown kind, naming the choices', async () => {
    const run = await gatehouse(['schema', 'grants']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('config, policy');
  });
});

describe.concurrent('gatehouse policy check', { timeout: SPAWN_TIMEOUT_MS }, () => {
  it('exits 0 and says ok for a valid policy', async () => {
    const run = await gatehouse(['policy', 'check', 'good-policy.yaml']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('good-policy.yaml: ok\n');
  });

  it('exits 2 and prints every problem of every file with its path', async () => {
    const run = await gatehouse(['policy', 'check', 'good-policy.yaml', 'bad-policy.json', 'missing.yaml']);
    expect(run.code).toBe(2);
    expect(run.stdout).toContain('good-policy.yaml: ok');
    expect(run.stdout).toContain('bad-policy.json: 2 problems');
    expect(run.stdout).toContain('  /tools/send/limits/0/max: must be greater than 0');
    expect(run.stdout).toContain('  /tools/send/limits/0/window: expected second, minute, hour, day');
    expect(run.stdout).toContain('missing.yaml: 1 problem\n  (top level): file not found');
    expect(run.stdout).toContain('2 of 3 policy files have problems');
  });

  it('exits 2 when no file is given', async () => {
    expect((await gatehouse(['policy', 'check'])).code).toBe(2);
  });
});

describe.concurrent('gatehouse start', { timeout: SPAWN_TIMEOUT_MS }, () => {
  const BAD_CONFIG_LINES = [
    'bad-config.yaml: invalid configuration (3 problems)',
    '  /servers/Mail_Server: server names use lowercase letters, digits and dashes',
    '  /servers/web/url: expected an http:// or https:// URL',
    '  /auth/mode: auth mode "none" is accepted only while listen.host is a loopback address',
  ];

  it('exits 2 for an invalid config given with -c, printing every problem with its path', async () => {
    const run = await gatehouse(['start', '-c', 'bad-config.yaml']);
    expect(run.code).toBe(2);
    for (const line of BAD_CONFIG_LINES) expect(run.stderr).toContain(line);
    expect(run.stdout).toBe('');
  });

  it('exits 2 for an invalid config named by GATEHOUSE_CONFIG', async () => {
    const run = await gatehouse(['start'], { env: { GATEHOUSE_CONFIG: file('bad-config.yaml') } });
    expect(run.code).toBe(2);
    for (const line of BAD_CONFIG_LINES) expect(run.stderr).toContain(line);
  });

  it('exits 2 when the -c file does not exist', async () => {
    const run = await gatehouse(['start', '--config', 'nope.yaml']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${file('nope.yaml')}: the file given with -c does not exist`);
  });
});

describe.concurrent('gatehouse stdio', { timeout: SPAWN_TIMEOUT_MS }, () => {
  it('exits 2 for an unknown server, listing the servers of the config', async () => {
    const run = await gatehouse(['stdio', 'gitlab', '-c', 'two-servers.yaml']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('gatehouse: unknown server "gitlab"; configured servers: github, memory\n');
    expect(run.stdout).toBe('');
  });

  it('uses the embedded default config when no config file is found', async () => {
    const run = await gatehouse(['stdio', 'gitlab'], { cwd: emptyDir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('configured servers: example');
  });

  it('exits 2 when the server argument is missing', async () => {
    expect((await gatehouse(['stdio'])).code).toBe(2);
  });
});

describe.concurrent('usage', { timeout: SPAWN_TIMEOUT_MS }, () => {
  it.each([
    'gatehouse',
    'gatehouse start',
    'gatehouse stdio',
    'gatehouse schema',
    'gatehouse policy',
    'gatehouse policy check',
  ])('%s --help exits 0 and shows an example', async (command) => {
    const run = await gatehouse([...command.split(' ').slice(1), '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Usage: ${command} `);
    expect(run.stdout).toMatch(/Examples?:\n {2}\$ gatehouse /);
  });

  it.each([
    ['no command', []],
    ['an unknown command', ['launch']],
    ['an unknown option', ['start', '--port', '1']],
  ])('exits 2 for %s', async (_case, args) => {
    const run = await gatehouse(args as string[]);
    expect(run.code).toBe(2);
    expect(run.stderr).not.toBe('');
  });

  it('prints the version from package.json', async () => {
    const run = await gatehouse(['--version']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });
});

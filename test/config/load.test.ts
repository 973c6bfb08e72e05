// Proves how loadConfig finds and reads a config: YAML and JSON files; the file given with -c, then
// GATEHOUSE_CONFIG, then gatehouse.yaml / .yml / .json in the working directory, then the embedded
// default; syntax errors with their line; relative paths resolved against the config file's folder;
// and policy files named by the config checked at load.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfig } from '../../src/config/load.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-load-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
}

const YAML_CONFIG = 'servers:\n  memory:\n    command: npx\n    args: ["-y", "@modelcontextprotocol/server-memory"]\n';
const JSON_CONFIG = '{\n\t"servers": {\n\t\t"github": { "url": "https://api.githubcopilot.com/mcp/" }\n\t}\n}\n';

async function loadError(opts: Parameters<typeof loadConfig>[0]): Promise<ConfigError> {
  const error = await loadConfig(opts).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

describe('finding the config file', () => {
  it('reads a YAML file given with -c and fills in every default', async () => {
    const path = write('conf/gw.yaml', YAML_CONFIG);
    const loaded = await loadConfig({ file: 'conf/gw.yaml', cwd: dir, env: {} });
    expect(loaded.path).toBe(path);
    expect(loaded.dir).toBe(join(dir, 'conf'));
    expect(loaded.config.listen).toEqual({ host: '127.0.0.1', port: 8080, cors_origins: [] });
    expect(loaded.config.servers.memory).toMatchObject({
      transport: 'stdio',
      command: 'npx',
      args: ['-y', '@modelcontextprotocol/server-memory'],
    });
  });

  it('reads a tab-indented JSON file', async () => {
    write('gw.json', JSON_CONFIG);
    const loaded = await loadConfig({ file: 'gw.json', cwd: dir, env: {} });
    expect(loaded.config.servers.github).toMatchObject({
      transport: 'streamable-http',
      url: 'https://api.githubcopilot.com/mcp/',
    });
  });

  it('uses GATEHOUSE_CONFIG when no file is given with -c', async () => {
    const path = write('elsewhere/config.yml', YAML_CONFIG);
    const loaded = await loadConfig({ cwd: dir, env: { GATEHOUSE_CONFIG: path } });
    expect(loaded.path).toBe(path);
  });

  it('prefers the file given with -c over GATEHOUSE_CONFIG', async () => {
    const fromFlag = write('flag.yaml', YAML_CONFIG);
    const fromEnv = write('env.json', JSON_CONFIG);
    const loaded = await loadConfig({ file: fromFlag, cwd: dir, env: { GATEHOUSE_CONFIG: fromEnv } });
    expect(loaded.path).toBe(fromFlag);
  });

  it.each(['gatehouse.yaml', 'gatehouse.yml', 'gatehouse.json'])('finds %s in the working directory', async (name) => {
    const path = write(name, name.endsWith('.json') ? JSON_CONFIG : YAML_CONFIG);
    expect((await loadConfig({ cwd: dir, env: {} })).path).toBe(path);
  });

  it('looks for gatehouse.yaml, then gatehouse.yml, then gatehouse.json', async () => {
    write('gatehouse.json', JSON_CONFIG);
    write('gatehouse.yml', YAML_CONFIG);
    expect((await loadConfig({ cwd: dir, env: {} })).path).toBe(join(dir, 'gatehouse.yml'));
    write('gatehouse.yaml', YAML_CONFIG);
    expect((await loadConfig({ cwd: dir, env: {} })).path).toBe(join(dir, 'gatehouse.yaml'));
  });

  it('falls back to the embedded default, rooted in the working directory, when no file is found', async () => {
    const loaded = await loadConfig({ cwd: dir, env: {} });
    expect(loaded.path).toBeNull();
    expect(loaded.dir).toBe(dir);
    expect(Object.keys(loaded.config.servers)).toEqual(['example']);
    expect(loaded.config.state).toBe(`sqlite:${join(dir, '.gatehouse/state.db')}`);
  });

  it('reports a missing -c file as CONFIG_NOT_FOUND with its path', async () => {
    const error = await loadError({ file: 'nope.yaml', cwd: dir, env: {} });
    expect(error.code).toBe('CONFIG_NOT_FOUND');
    expect(error.format()).toContain(join(dir, 'nope.yaml'));
  });

  it('reports a missing GATEHOUSE_CONFIG file as CONFIG_NOT_FOUND naming the variable', async () => {
    const error = await loadError({ cwd: dir, env: { GATEHOUSE_CONFIG: join(dir, 'gone.yaml') } });
    expect(error.code).toBe('CONFIG_NOT_FOUND');
    expect(error.format()).toContain('GATEHOUSE_CONFIG');
  });
});

describe('syntax errors', () => {
  it('reports a YAML syntax error as CONFIG_PARSE with its line', async () => {
    write('gatehouse.yaml', 'servers:\n  a: { command: x\n');
    const error = await loadError({ cwd: dir, env: {} });
    expect(error.code).toBe('CONFIG_PARSE');
    expect(error.problems[0]?.message).toMatch(/^line \d+, column \d+: /);
  });

  it('reports a duplicate YAML key as CONFIG_PARSE', async () => {
    write('gatehouse.yaml', 'servers: {}\nservers: {}\n');
    expect((await loadError({ cwd: dir, env: {} })).code).toBe('CONFIG_PARSE');
  });

  it('reports a JSON syntax error as CONFIG_PARSE with its line and column', async () => {
    write('gatehouse.json', '{\n  "servers": {,}\n}\n');
    const error = await loadError({ cwd: dir, env: {} });
    expect(error.code).toBe('CONFIG_PARSE');
    expect(error.problems[0]?.message).toMatch(/^line 2, column 15: /);
  });
});

describe('relative paths', () => {
  it('resolves policy paths, store files and stdio cwd against the config file folder', async () => {
    write('conf/policies/memory.json', '{ "version": "1", "default": "allow" }');
    write(
      'conf/gatehouse.yaml',
      [
        'state: sqlite:./data/state.db',
        'audit: jsonl:logs/audit.jsonl',
        'servers:',
        '  memory: { command: npx, cwd: work, policy: ./policies/memory.json }',
        'grants:',
        '  ci: { token: t, servers: [memory], policy: policies/memory.json }',
      ].join('\n'),
    );
    const { config } = await loadConfig({ file: 'conf/gatehouse.yaml', cwd: dir, env: {} });
    expect(config.state).toBe(`sqlite:${join(dir, 'conf/data/state.db')}`);
    expect(config.audit.sink).toBe(`jsonl:${join(dir, 'conf/logs/audit.jsonl')}`);
    expect(config.servers.memory?.cwd).toBe(join(dir, 'conf/work'));
    expect(config.servers.memory?.policy).toBe(join(dir, 'conf/policies/memory.json'));
    expect(config.grants.ci?.policy).toBe(join(dir, 'conf/policies/memory.json'));
  });

  it("defaults the audit log to the state's SQLite file", async () => {
    write('gatehouse.yaml', `state: sqlite:db/gw.db\n${YAML_CONFIG}`);
    const { config } = await loadConfig({ cwd: dir, env: {} });
    expect(config.audit.sink).toBe(config.state);
    expect(config.state).toBe(`sqlite:${join(dir, 'db/gw.db')}`);
  });

  it.each([
    ['sqlite:/var/lib/gatehouse/state.db', 'jsonl:/var/log/gatehouse/audit.jsonl'],
    ['redis://cache:6379/0', 'postgres://gatehouse@db/audit'],
    ['memory:', 'sqlite::memory:'],
  ])('leaves state %s and audit %s as written', async (state, audit) => {
    write('gatehouse.yaml', `state: "${state}"\naudit: "${audit}"\n${YAML_CONFIG}`);
    const { config } = await loadConfig({ cwd: dir, env: {} });
    expect([config.state, config.audit.sink]).toEqual([state, audit]);
  });
});

describe('policy files named by the config', () => {
  it('refuses a config whose policy file has problems, reporting each at the config key', async () => {
    write('p.yaml', 'version: "1"\ndefault: deny\ntools:\n  send_email: { limits: [{ max: 3, window: fortnight }] }\n');
    write('gatehouse.yaml', 'servers:\n  mail: { command: mailer, policy: p.yaml }\n');
    const error = await loadError({ cwd: dir, env: {} });
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.problems).toEqual([
      { path: '/servers/mail/policy', message: expect.stringContaining('p.yaml at /tools/send_email/limits/0/window') },
    ]);
  });

  it('refuses a config whose policy file does not exist', async () => {
    write('gatehouse.yaml', 'servers:\n  mail: { command: mailer, policy: missing.json }\n');
    const error = await loadError({ cwd: dir, env: {} });
    expect(error.problems[0]).toEqual({
      path: '/servers/mail/policy',
      message: `policy file not found: ${join(dir, 'missing.json')}`,
    });
  });
});

describe('ConfigError.format', () => {
  it('names the file, then gives one indented line per problem with its path', async () => {
    const path = write('gatehouse.yaml', 'listen: { port: 99999 }\nservers:\n  x: { url: "ftp://nowhere" }\n');
    const error = await loadError({ cwd: dir, env: {} });
    expect(error.format().split('\n')).toEqual([
      `${path}: invalid configuration (2 problems)`,
      '  /listen/port: must be at most 65535',
      '  /servers/x/url: expected an http:// or https:// URL',
    ]);
  });
});

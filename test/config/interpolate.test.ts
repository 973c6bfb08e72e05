// Proves `${VAR}` interpolation: replaced from the environment anywhere in any string of the config
// (not in keys, not in other values), `$${VAR}` kept as literal text, and a missing variable refused
// with an error that names it and every place it is used.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { interpolateEnv } from '../../src/config/interpolate.js';
import { loadConfig } from '../../src/config/load.js';

describe('interpolateEnv', () => {
  it('replaces a variable anywhere in a string, several per string, at any depth', () => {
    const { value, missing } = interpolateEnv(
      { a: { b: ['x-${ONE}-y', '${ONE}${TWO}'] }, c: 'Bearer ${TWO}' },
      { ONE: '1', TWO: 'two' },
    );
    expect(missing).toEqual([]);
    expect(value).toEqual({ a: { b: ['x-1-y', '1two'] }, c: 'Bearer two' });
  });

  it('leaves keys, numbers, booleans and null untouched', () => {
    const input = { '${KEY}': 1, flag: true, nothing: null };
    expect(interpolateEnv(input, { KEY: 'k' }).value).toEqual(input);
  });

  it('keeps $${VAR} as the literal text ${VAR}', () => {
    expect(interpolateEnv({ cel: 'cost $${AMOUNT}' }, { AMOUNT: '5' }).value).toEqual({ cel: 'cost ${AMOUNT}' });
  });

  it('treats a variable set to the empty string as set', () => {
    expect(interpolateEnv('a${EMPTY}b', { EMPTY: '' })).toEqual({ value: 'ab', missing: [] });
  });

  it('reports every missing variable with the JSON path of the string that uses it', () => {
    const { missing } = interpolateEnv({ servers: { gh: { headers: { 'X/Y': '${A} ${B}' } } } }, {});
    expect(missing).toEqual([
      { path: '/servers/gh/headers/X~1Y', name: 'A' },
      { path: '/servers/gh/headers/X~1Y', name: 'B' },
    ]);
  });
});

describe('interpolation when loading a config', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-env-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const CONFIG = [
    'listen: { host: 127.0.0.1, port: "${PORT}" }',
    'auth: { mode: grants, admin_token: "${ADMIN_TOKEN}" }',
    'servers:',
    '  github:',
    '    url: https://${GH_HOST}/mcp/',
    '    headers: { Authorization: "Bearer ${GITHUB_TOKEN}" }',
  ].join('\n');

  it('fills strings from the environment, and a port given as a variable becomes a number', async () => {
    writeFileSync(join(dir, 'gatehouse.yaml'), CONFIG);
    const env = { PORT: '9090', ADMIN_TOKEN: 'adm', GH_HOST: 'api.example.com', GITHUB_TOKEN: 'ghp_1' };
    const { config } = await loadConfig({ cwd: dir, env });
    expect(config.listen.port).toBe(9090);
    expect(config.auth.admin_token).toBe('adm');
    expect(config.servers.github?.url).toBe('https://api.example.com/mcp/');
    expect(config.servers.github?.headers).toEqual({ Authorization: 'Bearer ghp_1' });
  });

  it('refuses a config naming unset variables with CONFIG_ENV_MISSING, naming each one and where', async () => {
    writeFileSync(join(dir, 'gatehouse.yaml'), CONFIG);
    const error = await loadConfig({ cwd: dir, env: { PORT: '9090', GH_HOST: 'h' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    const { code, summary, problems } = error as ConfigError;
    expect(code).toBe('CONFIG_ENV_MISSING');
    expect(summary).toBe('environment variables not set: ADMIN_TOKEN, GITHUB_TOKEN');
    expect(problems).toEqual([
      { path: '/auth/admin_token', message: 'environment variable ADMIN_TOKEN is not set' },
      { path: '/servers/github/headers/Authorization', message: 'environment variable GITHUB_TOKEN is not set' },
    ]);
  });
});

// Finding, reading and validating the gateway config. Resolution order: the file given with -c, then
// GATEHOUSE_CONFIG, then gatehouse.yaml / gatehouse.yml / gatehouse.json in the working directory,
// then the embedded default. Every failure is a ConfigError carrying all its problems at once.
import { access } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { defaultConfig } from './defaults.js';
import { ConfigError, problemCount } from './errors.js';
import { interpolateEnv, type Env } from './interpolate.js';
import { checkPolicyFiles } from './policy-files.js';
import { resolveConfigPaths } from './resolve-paths.js';
import type { GatehouseConfig } from './schema.js';
import { readStructuredFile } from './structured-file.js';
import { validateConfig } from './validate.js';

export const CONFIG_FILE_NAMES = ['gatehouse.yaml', 'gatehouse.yml', 'gatehouse.json'] as const;

export interface LoadedConfig {
  /** Absolute path of the config file; null when the embedded default is used. */
  path: string | null;
  /** Folder that relative paths in the config were resolved against. */
  dir: string;
  config: GatehouseConfig;
}

export interface LoadConfigOptions {
  /** A file named on the command line (-c), relative to cwd. */
  file?: string;
  cwd?: string;
  env?: Env;
}

export async function loadConfig(opts: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  const path = await locateConfigFile(opts.file, cwd, env);
  if (path === null) return { path: null, dir: cwd, config: defaultConfig(cwd) };

  const dir = dirname(path);
  return { path, dir, config: await checkConfig(await readStructuredFile(path), { where: path, dir, env }) };
}

/**
 * A config as read (from a file, or an object given to the library): `${VAR}` filled from `env`,
 * validated, its relative paths resolved against `dir` and its policy files checked. Throws a
 * ConfigError naming `where` (the file, or null for an object).
 */
export async function checkConfig(
  raw: unknown,
  { where, dir, env }: { where: string | null; dir: string; env: Env },
): Promise<GatehouseConfig> {
  const { value, missing } = interpolateEnv(raw, env);
  if (missing.length > 0) {
    const names = [...new Set(missing.map((m) => m.name))];
    throw new ConfigError(
      'CONFIG_ENV_MISSING',
      where,
      `environment variable${names.length === 1 ? '' : 's'} not set: ${names.join(', ')}`,
      missing.map((m) => ({ path: m.path, message: `environment variable ${m.name} is not set` })),
      'Set the missing variables in the environment, or write $${NAME} where a literal ${NAME} is meant.',
    );
  }
  const result = validateConfig(value);
  if (!result.ok) {
    throw new ConfigError(
      'CONFIG_INVALID',
      where,
      `invalid configuration (${problemCount(result.problems)})`,
      result.problems,
    );
  }
  const config = resolveConfigPaths(result.config, dir);
  const policyProblems = await checkPolicyFiles(config, dir);
  if (policyProblems.length > 0) {
    throw new ConfigError('CONFIG_INVALID', where, `invalid policy (${problemCount(policyProblems)})`, policyProblems);
  }
  return config;
}

/** The config file to read, or null for the embedded default. */
async function locateConfigFile(file: string | undefined, cwd: string, env: Env): Promise<string | null> {
  if (file !== undefined) return mustExist(resolve(cwd, file), 'the file given with -c does not exist');
  const fromEnv = env.GATEHOUSE_CONFIG;
  if (fromEnv) return mustExist(resolve(cwd, fromEnv), 'the file named by GATEHOUSE_CONFIG does not exist');
  for (const name of CONFIG_FILE_NAMES) {
    if (await exists(join(cwd, name))) return join(cwd, name);
  }
  return null;
}

async function mustExist(path: string, summary: string): Promise<string> {
  if (await exists(path)) return path;
  throw new ConfigError('CONFIG_NOT_FOUND', path, summary);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

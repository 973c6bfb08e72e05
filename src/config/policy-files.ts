// Policy files named by a config are checked when the config loads, so that a broken or missing
// policy stops start-up with every problem listed, instead of failing later on the first call.
import { relative } from 'node:path';
import { loadPolicy, PolicyError } from '../policy/compile.js';
import { ConfigError } from './errors.js';
import { displayPath, toPointer, type Problem } from './problems.js';
import type { GatehouseConfig } from './schema.js';
import { readStructuredFile } from './structured-file.js';

/** Problems of every policy file the config refers to, reported at the config key that names it. */
export async function checkPolicyFiles(config: GatehouseConfig, dir: string): Promise<Problem[]> {
  const references = [
    ...Object.entries(config.servers).map(([name, s]) => ({ at: ['servers', name, 'policy'], policy: s.policy })),
    ...Object.entries(config.grants).map(([name, g]) => ({ at: ['grants', name, 'policy'], policy: g.policy })),
  ];
  const checked = new Map<string, Promise<string[]>>();
  const problems: Problem[] = [];
  for (const { at, policy } of references) {
    if (typeof policy !== 'string') continue;
    if (!checked.has(policy)) checked.set(policy, policyFileProblems(policy, relative(dir, policy) || policy));
    for (const message of await checked.get(policy)!) problems.push({ path: toPointer(at), message });
  }
  return problems;
}

async function policyFileProblems(file: string, shown: string): Promise<string[]> {
  try {
    // The same load the gateway does: the schema and every CEL expression, all problems at once.
    loadPolicy(await readStructuredFile(file));
    return [];
  } catch (error) {
    if (error instanceof PolicyError)
      return error.problems.map((p) => `policy ${shown} at ${displayPath(p.path)}: ${p.message}`);
    if (!(error instanceof ConfigError)) throw error;
    if (error.code === 'CONFIG_NOT_FOUND') return [`policy file not found: ${file}`];
    return error.problems.length > 0
      ? error.problems.map((p) => `policy ${shown}: ${p.message}`)
      : [`policy ${shown}: ${error.summary}`];
  }
}

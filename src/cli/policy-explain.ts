// `gatehouse policy explain <server> <tool>`: the decision the gateway would make for one call now,
// and the chain of checks that made it. The server is started through the gateway core to read the
// tool's catalog entry (its category and risk decide `categories` rules); each limit's current
// usage is read from the configured state store without reserving anything.
import { relative } from 'node:path';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { grantNotes } from '../identity/grants.js';
import type { StateStore } from '../store/store.js';
import { formatExplanation } from '../policy/explain-format.js';
import { explain, usageFromStore } from '../policy/explain.js';
import { explainedCall } from '../http/admin-explain-routes.js';
import { EXIT_OK, UsageError, type CliIo } from './io.js';

export interface PolicyExplainOptions {
  args?: string;
  grant?: string;
  config?: string;
  json?: boolean;
  now?: string;
}

export async function policyExplainCommand(
  server: string,
  tool: string,
  opts: PolicyExplainOptions,
  io: CliIo,
): Promise<number> {
  const args = parseArgs(opts.args);
  const now = parseNow(opts.now);
  const loaded = await loadConfig({ file: opts.config });
  const servers = loaded.config.servers;
  if (!servers[server])
    throw new UsageError(`unknown server "${server}"; configured servers: ${Object.keys(servers).join(', ')}`);
  const { buildGatewayCore, compilePolicies } = await import('../gateway/core.js');
  // Compiled as the gateway compiles them: a problem is reported at the config key naming the policy.
  const compiled = await compilePolicies(loaded);
  const core = await buildGatewayCore(loaded, (level, msg) => {
    if (level !== 'info') io.err(`${level}: ${msg}`);
  });
  try {
    // A grant of the config file, or one made with `gatehouse grants create` (in the state store).
    const found = opts.grant === undefined ? undefined : await core.grants.named(opts.grant, now.getTime());
    if (opts.grant !== undefined && !found) throw new UsageError(await unknownGrant(opts.grant, loaded, core.store));
    const grant = found?.grant;
    const notes = grantNotes(found, server);
    const policy = grant?.policy ?? compiled.servers.get(server);
    if (!policy) {
      const text = `server ${server} has no policy: the gateway forwards every call to it`;
      if (opts.json)
        io.out(JSON.stringify({ server, tool, policy: null, verdict: 'allow', notes: [...notes, text] }, null, 2));
      else io.out([...notes.map((n) => `note: ${n}`), `decision: allow`, `  ${text}`].join('\n'));
      return EXIT_OK;
    }
    const ref = grant?.policy
      ? (found?.policyFile ?? loaded.config.grants[grant.name]?.policy)
      : servers[server]!.policy;
    const policyFrom = grant?.policy ? `grant ${grant.name}` : `server ${server}`;
    const policySource = `${policyFrom}, ${typeof ref === 'string' ? relative(process.cwd(), ref) || ref : 'inline'}`;

    const { facts, listed } = await explainedCall(core, { server, tool, args, subject: 'tool', grant, now }, notes);
    if (core.store.kind === 'memory')
      notes.push('the state store is memory: (per process), so no usage from a running gateway can be seen');

    const explanation = await explain(policy, facts, usageFromStore(core.store, now.getTime()));
    if (opts.json) {
      io.out(JSON.stringify({ server, tool, policy: policySource, listed, notes, explanation }, null, 2));
    } else {
      const head = [...notes.map((n) => `note: ${n}`), `policy: ${policySource}`];
      io.out(`${head.join('\n')}\n\n${formatExplanation(explanation)}`);
    }
    return EXIT_OK;
  } finally {
    await core.close();
  }
}

function parseArgs(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--args is not valid JSON (${(error as Error).message}); give an object, e.g. '{"id": 1}'`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new UsageError(`--args must be a JSON object of the tool's arguments, e.g. '{"id": 1}'`);
  return value as Record<string, unknown>;
}

function parseNow(text: string | undefined): Date {
  if (text === undefined) return new Date();
  const time = Date.parse(text);
  if (Number.isNaN(time) || !/(Z|[+-]\d\d:?\d\d)$/i.test(text.trim()))
    throw new UsageError(`--now expects an ISO 8601 time with a zone, e.g. 2026-03-02T10:00:00Z; got "${text}"`);
  return new Date(time);
}

/** Why `--grant NAME` names no grant, with the grants there are. */
async function unknownGrant(name: string, loaded: LoadedConfig, store: StateStore): Promise<string> {
  const configured = Object.keys(loaded.config.grants);
  const created = (await store.listGrants()).map((g) => g.name);
  return [
    `unknown grant "${name}"; ${configured.length > 0 ? `configured grants: ${configured.join(', ')}` : 'the config has no grants'}`,
    ...(created.length > 0 ? [`created with gatehouse grants: ${created.join(', ')}`] : []),
  ].join('; ');
}

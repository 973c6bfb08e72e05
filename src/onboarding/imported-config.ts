// The files `gatehouse import` writes: a gatehouse.yaml with every imported server, each pointing at
// its policy file, and — for a server whose tools could not be read — a policy that denies
// everything until the operator replaces it with a suggested one.
import { Document, isMap, isScalar, type YAMLMap } from 'yaml';
import { CLIENT_LABELS, type ClientImport, type ImportedServer } from './client-configs.js';

export interface GrantPlan {
  name: string;
  /** The environment variable that holds the token. */
  variable: string;
}

export interface ImportedConfigOptions {
  /** The client file, as the user named it (shown in the header). */
  source: string;
  /** Policy path of a server, relative to the config file. */
  policyPath: (server: string) => string;
  grant?: GrantPlan;
}

export function importedConfigYaml(imported: ClientImport, opts: ImportedConfigOptions): string {
  const servers = Object.fromEntries(imported.servers.map((s) => [s.name, serverEntry(s, opts.policyPath(s.name))]));
  const doc = new Document({
    listen: { host: '127.0.0.1', port: 8080 },
    state: 'sqlite:./.gatehouse/state.db',
    ...(opts.grant ? { auth: { mode: 'grants' } } : {}),
    servers,
    ...(opts.grant
      ? { grants: { [opts.grant.name]: { token: `\${${opts.grant.variable}}`, servers: Object.keys(servers) } } }
      : {}),
  });
  const variables = imported.inputs.map((i) => i.variable);
  doc.commentBefore = [
    ` Gatehouse configuration, imported from ${opts.source} (${CLIENT_LABELS[imported.client]}) by gatehouse import.`,
    ' Each server has a suggested policy in policies/: review them, then run: gatehouse start',
    ...(variables.length > 0 ? [` Set these environment variables before starting: ${variables.join(', ')}`] : []),
    ...(opts.grant ? [` Set ${opts.grant.variable} to a long random secret (e.g. openssl rand -hex 32).`] : []),
    ' Reference: docs/configuration.md; JSON Schema: gatehouse schema config',
  ].join('\n');
  const map = doc.get('servers') as YAMLMap;
  for (const pair of map.items) {
    const key = pair.key;
    const server = imported.servers.find((s) => isScalar(key) && s.name === key.value);
    if (server && server.original !== server.name && isScalar(key))
      key.commentBefore = ` "${server.original}" in ${CLIENT_LABELS[imported.client]}`;
  }
  // Short lists and maps on one line, as people write them by hand.
  for (const pair of map.items) {
    if (!isMap(pair.value)) continue;
    for (const field of pair.value.items) {
      const v = field.value as { flow?: boolean; items?: unknown[] } | null;
      if (v && Array.isArray(v.items) && v.items.length <= 4 && JSON.stringify(v).length < 80) v.flow = true;
    }
  }
  return doc.toString({ lineWidth: 0 });
}

function serverEntry(s: ImportedServer, policy: string): Record<string, unknown> {
  return {
    ...(s.command !== undefined ? { command: s.command } : {}),
    ...(s.args ? { args: s.args } : {}),
    ...(s.env ? { env: s.env } : {}),
    ...(s.cwd ? { cwd: s.cwd } : {}),
    ...(s.url ? { url: s.url } : {}),
    ...(s.url && s.transport === 'sse' ? { transport: 'sse' } : {}),
    ...(s.headers ? { headers: s.headers } : {}),
    policy,
  };
}

/** The policy of a server whose tools are unknown: nothing passes until it is replaced. */
export function defaultDenyPolicyYaml(server: string, why: string, policyPath: string): string {
  return [
    `# "${server}" could not be started while importing, so its tools are unknown:`,
    `#   ${why.replace(/\s+/g, ' ')}`,
    '# Every call is denied until this file is replaced with a suggested policy. Once the server starts:',
    `#   gatehouse policy suggest ${server} -o ${policyPath} --force`,
    "version: '1'",
    'default: deny',
    '',
  ].join('\n');
}

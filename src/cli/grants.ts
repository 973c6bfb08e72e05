// `gatehouse grants create | list | revoke`: credentials for agents, kept in the state store.
// The token is printed once, when it is created; the store keeps only its hash. A running gateway
// sharing the store accepts a new grant and refuses a revoked one on the very next request.
import { createGrant, grantView, listGrants, NOT_CHECKED_UNDER_NONE, revokeGrant } from '../identity/create-grant.js';
import { GrantRegistry } from '../identity/grants.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, type CliIo } from './io.js';
import { withConfigStore } from './state-store.js';

const API = '/api/v1/grants';

export interface GrantsCreateOptions {
  config?: string;
  server?: string[];
  agent?: string;
  label?: string[];
  policy?: string;
  expires?: string;
  json?: boolean;
}

function labelsOf(pairs: string[] = []): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--label expects key=value, got "${pair}"`);
    labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return labels;
}

export async function grantsCreateCommand(name: string, opts: GrantsCreateOptions, io: CliIo): Promise<number> {
  const labels = labelsOf(opts.label);
  return withConfigStore(opts.config, 'grants', API, async (store, loaded) => {
    const created = await createGrant(
      {
        name,
        servers: opts.server ?? [],
        labels,
        ...(opts.agent !== undefined ? { agent: opts.agent } : {}),
        ...(opts.policy !== undefined ? { policy: opts.policy } : {}),
        ...(opts.expires !== undefined ? { expires: opts.expires } : {}),
      },
      {
        store,
        servers: Object.keys(loaded.config.servers),
        configGrants: new Set(Object.keys(loaded.config.grants)),
        baseDir: process.cwd(),
        authMode: loaded.config.auth.mode,
      },
    );
    if (!created.ok) {
      io.err(`gatehouse: ${created.message}`);
      return created.code === 'invalid' ? EXIT_USAGE : EXIT_FAILURE;
    }
    const view = grantView(created.grant);
    if (loaded.config.auth.mode === 'none') io.err(`gatehouse: note: ${NOT_CHECKED_UNDER_NONE}`);
    if (opts.json) {
      io.out(JSON.stringify({ ...view, token: created.token }, null, 2));
      return EXIT_OK;
    }
    const server = created.grant.servers[0]!;
    io.out(
      [
        `Created grant "${view.name}" (agent ${view.agent}; servers ${view.servers.join(', ')}${view.expires ? `; expires ${view.expires}` : ''}).`,
        '',
        `Token (shown only now; Gatehouse keeps only its hash):`,
        `  ${created.token}`,
        '',
        'A client connects with it like this:',
        JSON.stringify(
          {
            mcpServers: {
              [server]: {
                type: 'http',
                url: `http://${loaded.config.listen.host}:${loaded.config.listen.port}/mcp/${server}`,
                headers: { Authorization: `Bearer ${created.token}` },
              },
            },
          },
          null,
          2,
        ),
      ].join('\n'),
    );
    return EXIT_OK;
  });
}

export async function grantsListCommand(opts: { config?: string; json?: boolean }, io: CliIo): Promise<number> {
  return withConfigStore(opts.config, 'grants', API, async (store, loaded) => {
    const configGrants = new GrantRegistry(loaded.config.grants, () => undefined).configGrants();
    const all = await listGrants(configGrants, store);
    if (opts.json) {
      io.out(JSON.stringify(all, null, 2));
      return EXIT_OK;
    }
    if (all.length === 0) {
      io.out('No grants yet: create one with "gatehouse grants create NAME --server SERVER".');
      return EXIT_OK;
    }
    const rows = all.map((g) => [g.name, g.agent, g.servers.join(','), g.status, g.source, g.expires ?? '-']);
    const head = ['NAME', 'AGENT', 'SERVERS', 'STATUS', 'SOURCE', 'EXPIRES'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (r: string[]) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd();
    io.out([line(head), ...rows.map(line)].join('\n'));
    return EXIT_OK;
  });
}

export async function grantsRevokeCommand(name: string, opts: { config?: string }, io: CliIo): Promise<number> {
  return withConfigStore(opts.config, 'grants', API, async (store, loaded) => {
    const revoked = await revokeGrant(name, { store, configGrants: new Set(Object.keys(loaded.config.grants)) });
    if (!revoked.ok) {
      io.err(`gatehouse: ${revoked.message}.`);
      return EXIT_FAILURE;
    }
    io.out(`Revoked grant "${name}": its token is refused from the next request on, also in open sessions.`);
    return EXIT_OK;
  });
}

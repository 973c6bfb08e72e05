// Proves that Gatehouse relays every MCP feature faithfully for every pair of downstream
// (Streamable HTTP in each era, the /mcp aggregate in each era, legacy HTTP+SSE, stdio in each
// era) and upstream (stdio legacy, stdio modern, Streamable HTTP legacy, Streamable HTTP modern,
// HTTP+SSE). Each pair runs the fixture's whole feature checklist — list, call, resources,
// prompts, completion, progress, elicitation, sampling, roots, list-changed, logging,
// subscriptions, cancellation — with the official SDK client as the agent, through the gateway.
import { resolve } from 'node:path';
import type { Gateway } from '../../src/gateway/gateway.js';
import { describeFeatureSuite } from '../helpers/feature-suite.js';
import {
  EPHEMERAL,
  connectClient,
  featureServerCommand,
  spawnFixture,
  startParsedGateway,
  tempDir,
  TSX_LOADER,
  type Era,
  type SpawnedFixture,
  type TempDir,
} from '../helpers/index.js';

type UpstreamKind = 'stdio-legacy' | 'stdio-modern' | 'http-legacy' | 'http-modern' | 'sse';
type DownstreamKind = 'http' | 'aggregate' | 'sse' | 'stdio';

const UPSTREAMS: UpstreamKind[] = ['stdio-legacy', 'stdio-modern', 'http-legacy', 'http-modern', 'sse'];
const DOWNSTREAMS: { kind: DownstreamKind; era: Era }[] = [
  { kind: 'http', era: 'modern' },
  { kind: 'http', era: 'legacy' },
  { kind: 'aggregate', era: 'modern' },
  { kind: 'aggregate', era: 'legacy' },
  { kind: 'sse', era: 'legacy' },
  { kind: 'stdio', era: 'legacy' },
  { kind: 'stdio', era: 'modern' },
];
const SERVER = 'fx';
const CLI = resolve('src/cli/main.ts');

/** The server entry for the gateway config, starting an HTTP fixture when the upstream needs one. */
async function upstreamEntry(
  kind: UpstreamKind,
): Promise<{ entry: Record<string, unknown>; fixture?: SpawnedFixture }> {
  if (kind === 'stdio-legacy' || kind === 'stdio-modern') {
    const { command, args } = featureServerCommand('stdio', kind === 'stdio-legacy' ? 'legacy' : 'modern');
    return { entry: { command, args } };
  }
  const transport = kind === 'sse' ? 'sse' : 'http';
  const fixture = await spawnFixture({ transport, era: kind === 'http-modern' ? 'modern' : 'legacy' });
  return { entry: { url: fixture.url, ...(kind === 'sse' ? { transport: 'sse' } : {}) }, fixture };
}

/**
 * Which client name the upstream sees: a modern upstream receives each client's own envelope,
 * and a legacy HTTP/SSE upstream gets one upstream session per client, initialized with the
 * client's own info; a shared legacy stdio child was initialized once, by Gatehouse.
 */
function expectedClientName(up: UpstreamKind, down: { kind: DownstreamKind; era: Era }): string | null {
  if (up === 'stdio-modern' || up === 'http-modern') return 'fixture-client';
  if (up === 'stdio-legacy') return null;
  return down.era === 'legacy' ? 'fixture-client' : null;
}

for (const up of UPSTREAMS) {
  for (const down of DOWNSTREAMS) {
    let fixture: SpawnedFixture | undefined;
    let gateway: Gateway | undefined;
    let configDir: TempDir | undefined;
    describeFeatureSuite(`${down.kind} (${down.era} client) → gateway → ${up}`, {
      era: down.era,
      expectedClientName: expectedClientName(up, down),
      ...(down.kind === 'aggregate' ? { toolName: (n: string) => `${SERVER}__${n}` } : {}),
      connect: async () => {
        const upstream = await upstreamEntry(up);
        fixture = upstream.fixture;
        const raw = { ...EPHEMERAL, servers: { [SERVER]: { ...upstream.entry, timeout_ms: 20_000 } } };
        if (down.kind === 'stdio') {
          configDir = tempDir('gatehouse-matrix-');
          const file = configDir.write('gatehouse.json', raw);
          return connectClient({
            era: down.era,
            downstream: {
              kind: 'stdio',
              command: process.execPath,
              args: ['--import', TSX_LOADER, CLI, 'stdio', SERVER, '-c', file],
            },
          });
        }
        gateway = await startParsedGateway(raw);
        const url =
          down.kind === 'http'
            ? `${gateway.url}/mcp/${SERVER}`
            : down.kind === 'aggregate'
              ? `${gateway.url}/mcp`
              : `${gateway.url}/sse/${SERVER}`;
        return connectClient({ era: down.era, downstream: { kind: down.kind === 'sse' ? 'sse' : 'http', url } });
      },
      teardown: async () => {
        await gateway?.close();
        await fixture?.close();
        configDir?.remove();
      },
    });
  }
}

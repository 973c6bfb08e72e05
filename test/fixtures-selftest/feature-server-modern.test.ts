// Proves that the feature fixture server works for a 2026-07-28 ("modern") SDK client over stdio
// and stateless Streamable HTTP, both when the server serves only the modern era and when it serves
// both eras. Every feature of the fixture is exercised (see test/helpers/feature-suite.ts).
//
// What the 2026-07-28 era has, as found here (SDK v2.4 client and server):
// - No initialize and no session: the client (versionNegotiation pin) sends `server/discover` and
//   then every request carries `_meta` `io.modelcontextprotocol/protocolVersion`, `/clientInfo` and
//   `/clientCapabilities`. On HTTP every POST carries `MCP-Protocol-Version`, `Mcp-Method` and, for
//   tools/call, prompts/get and resources/read, `Mcp-Name`; no `Mcp-Session-Id` anywhere.
// - Elicitation, sampling and roots are `input_required` results; the SDK client fulfils them with
//   its registered handlers and retries with `inputResponses` (+ the echoed `requestState`) under a
//   new request id. A server refuses (-32021) an input request the envelope's capabilities lack.
// - Change notifications only flow on `subscriptions/listen` streams, each stamped with
//   `_meta["io.modelcontextprotocol/subscriptionId"]` = the listen request id; the first message is
//   `notifications/subscriptions/acknowledged` with the honoured filter. resources/subscribe,
//   logging/setLevel, ping and notifications/roots/list_changed do not exist: the client refuses
//   them locally ("not supported by the negotiated protocol version").
// - Logging: a server emits notifications/message only when the request's `_meta` carries
//   `io.modelcontextprotocol/logLevel`, and only at or above it.
// - Cancellation over HTTP is the client aborting the request's HTTP stream (no
//   notifications/cancelled is POSTed); over stdio it is notifications/cancelled.
// - Over stdio a pinned client first spawns a disposable sibling process for the discover probe,
//   then the real one: a modern stdio connect starts the server twice.
// - List and read results carry `ttlMs` and `cacheScope`, and `_meta` serverInfo.
import { connectClient, spawnFixture, type FixtureTransport, type SpawnedFixture } from '../helpers/index.js';
import { describeFeatureSuite } from '../helpers/feature-suite.js';

const MODES: Array<{ transport: FixtureTransport; serverEra: 'modern' | 'both' }> = [
  { transport: 'stdio', serverEra: 'modern' },
  { transport: 'http', serverEra: 'modern' },
  { transport: 'stdio', serverEra: 'both' },
  { transport: 'http', serverEra: 'both' },
];

for (const { transport, serverEra } of MODES) {
  let fixture: SpawnedFixture | undefined;
  describeFeatureSuite(`modern client → ${transport} fixture serving ${serverEra}`, {
    era: 'modern',
    connect: async () => {
      fixture = await spawnFixture({ transport, era: serverEra });
      return connectClient({ era: 'modern', downstream: fixture.downstream });
    },
    teardown: async () => {
      await fixture?.close();
    },
  });
}

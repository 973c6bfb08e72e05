// Proves that the feature fixture server works for a 2025-era ("legacy") SDK client in every
// transport that serves that era — stdio, sessionful Streamable HTTP and HTTP+SSE — both when the
// server serves only the legacy era and when it serves both eras. Every feature of the fixture is
// exercised (see test/helpers/feature-suite.ts), so gateway tests built on it can be trusted.
//
// What the 2025 era has, as found here (SDK v2.4 client and server):
// - `initialize` + `notifications/initialized`; on HTTP the server returns `Mcp-Session-Id` and the
//   client then sends it, with `MCP-Protocol-Version: 2025-11-25`, on every request, and opens a
//   GET stream right after `initialized`. Unknown session id → 404; DELETE ends the session.
// - Server-to-client requests are real JSON-RPC requests: `ctx.mcpReq.send()` (sample, list_roots)
//   rides the call's own POST SSE stream; `ctx.mcpReq.elicitInput()` (ask_name) is not tied to the
//   call and rides the session's GET stream (see wire-facts.test.ts).
// - Change notifications (tools/list_changed, resources/updated) are unsolicited; resources are
//   subscribed with resources/subscribe. logging/setLevel filters notifications/message. ping and
//   notifications/roots/list_changed exist. Cancellation is a notifications/cancelled message.
// - The client refuses subscriptions/listen on a 2025 connection before sending anything.
import { connectClient, spawnFixture, type FixtureTransport, type SpawnedFixture } from '../helpers/index.js';
import { describeFeatureSuite } from '../helpers/feature-suite.js';

const MODES: Array<{ transport: FixtureTransport; serverEra: 'legacy' | 'both' }> = [
  { transport: 'stdio', serverEra: 'legacy' },
  { transport: 'http', serverEra: 'legacy' },
  { transport: 'sse', serverEra: 'legacy' },
  { transport: 'stdio', serverEra: 'both' },
  { transport: 'http', serverEra: 'both' },
];

for (const { transport, serverEra } of MODES) {
  let fixture: SpawnedFixture | undefined;
  describeFeatureSuite(`legacy client → ${transport} fixture serving ${serverEra}`, {
    era: 'legacy',
    connect: async () => {
      fixture = await spawnFixture({ transport, era: serverEra });
      return connectClient({ era: 'legacy', downstream: fixture.downstream });
    },
    teardown: async () => {
      await fixture?.close();
    },
  });
}

// Proves that an approval covers only the kind of request a person approved: approving a prompt
// named `deploy` does not let the tool named `deploy` run with the same arguments (the tool's
// call is held for an approval of its own), while the prompt itself goes through. Official SDK
// clients of both eras; a real gateway in front of a server with a tool and a prompt of one name.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { TSX_LOADER } from '../helpers/fixture.js';
import { connectClient, EPHEMERAL, firstText, startParsedGateway, type Era } from '../helpers/index.js';

const SELF_DESCRIBED = fileURLToPath(new URL('../fixtures/servers/self-described-server.ts', import.meta.url));
const HELD = { action: 'require_approval', approval: { mode: 'retry' } };

describe.each<Era>(['legacy', 'modern'])('an approval is for one kind of request, %s client', (era) => {
  let gw: Gateway;

  beforeAll(async () => {
    gw = await startParsedGateway({
      ...EPHEMERAL,
      servers: {
        ops: {
          command: process.execPath,
          args: ['--import', TSX_LOADER, SELF_DESCRIBED],
          env: {
            LISTED_TOOLS: JSON.stringify([
              { name: 'deploy', description: 'Deploys.', inputSchema: { type: 'object' } },
            ]),
            LISTED_PROMPTS: JSON.stringify([{ name: 'deploy', description: 'How to deploy.' }]),
          },
          timeout_ms: 20_000,
          policy: { version: '1', default: 'allow', tools: { deploy: HELD }, prompts: { deploy: HELD } },
        },
      },
    });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('approving the prompt `deploy` leaves the tool `deploy` held; the prompt itself then goes through', async () => {
    const c = await connectClient({ era, downstream: { kind: 'http', url: `${gw.url}/mcp/ops` } });
    try {
      const first = await c.client.getPrompt({ name: 'deploy', arguments: {} }).catch((e: unknown) => e);
      expect(String(first instanceof Error ? first.message : JSON.stringify(first))).toMatch(
        /Approval apr_\w+ is pending/,
      );
      const [asked] = await gw.core.store.listApprovals({ server: 'ops', tool: 'deploy', status: ['pending'] });
      expect(asked?.subject).toBe('prompt');
      const answered = await gw.core.approvals.answer(asked!.id, { approve: true, by: 'test', channel: 'api' });
      expect(answered.ok).toBe(true);

      const tool = await c.client.callTool({ name: 'deploy', arguments: {} });
      expect(firstText(tool)).toContain('[APPROVAL PENDING]');
      const held = await gw.core.store.listApprovals({ server: 'ops', tool: 'deploy', status: ['pending'] });
      expect(held.map((a) => a.subject)).toEqual(['tool']);

      const prompt = await c.client.getPrompt({ name: 'deploy', arguments: {} });
      expect(JSON.stringify(prompt.messages)).toContain('prompt deploy');
    } finally {
      await c.close();
    }
  });
});

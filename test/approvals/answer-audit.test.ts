// Proves that the audit log says who answered a held call's approval, when, and through which
// channel: the call's record carries `approver`, `approval_channel` and `approval_decided_at` (the
// approval's own answer time), stored and read back through the SQLite sink and a real PostgreSQL
// sink, for clients of both eras.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/client';
import type { Gateway } from '../../src/gateway/gateway.js';
import { connectClient, featureAllowing, firstText } from '../helpers/index.js';
import { dropSchema, pgAuditUrl, uniqueSchema } from '../audit/pg.js';
import { startTestGateway, tempDir, type TempDir } from './support.js';

const schema = uniqueSchema();
const SINKS: [string, (dir: TempDir) => string][] = [
  ['sqlite', (dir) => `sqlite:${join(dir.path, 'audit.db')}`],
  ['postgres', () => pgAuditUrl(schema)],
];

afterAll(() => dropSchema(schema));

describe.each(SINKS)('the answer to an approval in the %s audit log', (_kind, auditUrl) => {
  let dir: TempDir;
  let gw: Gateway;
  beforeAll(async () => {
    dir = tempDir('gatehouse-answer-audit-');
    gw = await startTestGateway(dir, {
      audit: auditUrl(dir),
      servers: {
        fixture: featureAllowing({ add: { action: 'require_approval', approval: { timeout: '1m' } } }),
      },
    });
  });
  afterAll(async () => {
    await gw?.close();
    dir?.remove();
  });

  it.each(['legacy', 'modern'] as const)(
    '%s: the call’s record names the approver, the channel and when it was answered',
    async (era) => {
      const c = await connectClient({ era, downstream: { kind: 'http', url: `${gw.url}/mcp/fixture` } });
      try {
        const b = era === 'legacy' ? 1 : 2;
        const call = c.client.callTool({ name: 'add', arguments: { a: 10, b } });
        let id: string | undefined;
        for (let i = 0; i < 400 && !id; i++) {
          id = (await gw.core.store.listApprovals({ status: ['pending'] }))[0]?.id;
          if (!id) await new Promise((r) => setTimeout(r, 25));
        }
        const answered = await gw.core.approvals.answer(id!, { approve: true, by: 'sam', channel: 'api' });
        expect(answered.ok).toBe(true);
        expect(firstText((await call) as CallToolResult)).toBe(String(10 + b));
        await gw.core.audit.flush();
        const page = await gw.core.audit.query!({ limit: 100 });
        const record = page.records.find((r) => r.approval_id === id);
        const decidedAt = (await gw.core.store.getApproval(id!))?.decided_at;
        expect(decidedAt).toBeTypeOf('number');
        expect(record).toMatchObject({
          decision: 'allow',
          approver: 'sam',
          approval_channel: 'api',
          approval_decided_at: decidedAt,
        });
      } finally {
        await c.close();
      }
    },
  );
});

// Proves the admin API's audit answer (GET /api/v1/audit): query parameters filter and page the
// log, giving { records, next_cursor }; wrong parameters are 400 with what is wrong; a config
// with audit: none answers 404.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerAuditQuery } from '../../src/audit/api-query.js';
import { openAuditLog } from '../../src/audit/open-audit-log.js';
import type { AuditPage } from '../../src/audit/query.js';
import type { AuditLog } from '../../src/audit/record.js';
import { recordSeries, T0 } from './make-record.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-audit-api-'));
let log: AuditLog;
beforeAll(async () => {
  log = openAuditLog(
    { sink: 'sqlite:audit.db', arguments: 'redacted', retention: 10 * 365 * 86_400, queue_max: 100, spool: 'off' },
    dir,
  );
  for (const r of recordSeries(20)) log.write(r);
  await log.flush();
});
afterAll(async () => {
  await log.close();
  rmSync(dir, { recursive: true, force: true });
});

const ask = (query: string) => answerAuditQuery(log, new URLSearchParams(query), T0 + 3600_000);

describe('GET /api/v1/audit', () => {
  it('filters and pages, with a cursor that leads to the next page', async () => {
    const first = await ask('server=github&decision=allow&limit=3');
    expect(first.status).toBe(200);
    const page = first.body as AuditPage;
    expect(page.records.map((r) => r.request_id)).toEqual(['18', '16', '12']);
    const second = (await ask(`server=github&decision=allow&limit=3&cursor=${page.next_cursor}`)).body as AuditPage;
    expect(second.records.map((r) => r.request_id)).toEqual(['10', '6', '4']);
    const third = (await ask(`server=github&decision=allow&limit=3&cursor=${second.next_cursor}`)).body as AuditPage;
    expect(third).toEqual({ records: [expect.objectContaining({ request_id: '0' })], next_cursor: null });
  });

  it('takes since and until as ISO times or durations ago', async () => {
    const iso = new Date(T0 + 15_000).toISOString();
    const body = (await ask(`since=${encodeURIComponent(iso)}`)).body as AuditPage;
    expect(body.records.map((r) => r.request_id)).toEqual(['19', '18', '17', '16', '15']);
    expect(((await ask('until=59m')).body as AuditPage).records).toHaveLength(20);
  });

  it('answers 400 for wrong parameters and 404 when the log is off', async () => {
    expect((await ask('since=yesterday')).status).toBe(400);
    expect((await ask('limit=0')).status).toBe(400);
    expect((await ask('cursor=nonsense')).status).toBe(400);
    expect((await ask('color=red')).body).toEqual({ error: expect.stringContaining('unknown parameter color') });
    const off = await answerAuditQuery(
      { write: () => {}, flush: async () => {}, close: async () => {} },
      new URLSearchParams(),
      0,
    );
    expect(off.status).toBe(404);
  });
});

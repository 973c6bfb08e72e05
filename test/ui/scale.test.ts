// Proves the dashboard stays usable at scale against a running gateway: the catalog lists a real
// server with 500 generated tools (filtered as you type, rendered a page at a time), shows a changed
// tool's diff and accepts it; the audit log pages through 100,000 records stored in the SQLite sink
// before the gateway started (a page at a time, by cursor, newest first), filters them, shows one
// record whole, and its live tail shows a call made while the page is open.
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteAuditSink } from '../../src/audit/sqlite-sink.js';
import type { AuditRecord } from '../../src/audit/record.js';
import { featureServerCommand, TSX_LOADER, type ConnectedClient } from '../helpers/index.js';
import { screenshot, signIn, startUiTestbed, TOKENS, type UiGateway } from './support.js';

const MANY_TOOLS = new URL('../fixtures/servers/many-tools-server.ts', import.meta.url).pathname;
const RECORDS = 100_000;
const NOW = Date.now();

let ui: UiGateway;
let browser: Browser;
let client: ConnectedClient;

async function seedAudit(dir: string): Promise<void> {
  const sink = new SqliteAuditSink(join(dir, 'audit.db'));
  const decisions = ['allow', 'allow', 'allow', 'deny', 'rate_limited'] as const;
  for (let start = 0; start < RECORDS; start += 10_000) {
    const batch: AuditRecord[] = [];
    for (let i = start; i < start + 10_000; i++)
      batch.push({
        ts: NOW - (RECORDS - i) * 1000,
        request_id: String(i),
        server: 'many',
        subject: 'tool',
        tool: `get_invoice_${String(i % 50).padStart(3, '0')}`,
        grant: 'agent',
        agent: 'seeded',
        session: `s${i % 7}`,
        decision: decisions[i % decisions.length]!,
        arguments: { n: i },
        latency_ms: 3,
      });
    await sink.insert(batch);
  }
  await sink.close();
}

beforeAll(async () => {
  ({ ui, browser, client } = await startUiTestbed(
    {
      servers: {
        many: { command: process.execPath, args: ['--import', TSX_LOADER, MANY_TOOLS], timeout_ms: 30_000 },
        fixture: {
          ...featureServerCommand('stdio', 'both'),
          timeout_ms: 20_000,
          policy: { version: '1', default: 'allow' },
        },
      },
    },
    {},
    seedAudit,
  ));
});

afterAll(() => ui?.close());

async function open(hash: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(page, ui.url, TOKENS.admin, hash);
  return page;
}

describe('the catalog with 500 tools', () => {
  it('lists every tool with its category and risk, a page at a time, and filters as you type', async () => {
    // The fixture's tools are pinned when first listed; its catalog must be read once before changing echo.
    const page = await open('#/catalog');
    await expect.poll(() => page.locator('.page-header').textContent(), { timeout: 20_000 }).toMatch(/of 5\d\d tools/);
    expect(await page.locator('.page-header').textContent()).toMatch(/(\d+) of \1 tools/);
    expect(await page.locator('table.tools tbody tr').count()).toBe(100);
    await page.getByLabel('Server').selectOption('many');
    expect(await page.locator('.page-header').textContent()).toContain('500 of');
    const refund = page.locator('tr[data-tool="refund_invoice_006"]');
    await page.getByRole('searchbox', { name: 'Filter' }).fill('refund invoice');
    await refund.waitFor();
    expect(await refund.textContent()).toContain('financial');
    expect(await refund.textContent()).toContain('critical');
    const deletes = page.locator('tr[data-tool^="delete_"]');
    await page.getByRole('searchbox', { name: 'Filter' }).fill('delete_');
    await expect.poll(() => deletes.count()).toBeGreaterThan(50);
    expect(await deletes.first().textContent()).toContain('destructive');
    await page.getByRole('searchbox', { name: 'Filter' }).fill('');
    expect(await screenshot(page, 'catalog')).toBeGreaterThan(0);
    await page.close();
  });

  it('shows the diff of a tool whose definition changed, and Accept unblocks it', async () => {
    await client.callText('redescribe_echo', { description: 'Echoes, and now also something else.' });
    const page = await open('#/catalog?server=fixture');
    await page.getByRole('searchbox', { name: 'Filter' }).fill('echo');
    const row = page.locator('tr[data-tool="echo"]');
    await expect.poll(() => row.textContent(), { timeout: 20_000 }).toContain('changed');
    await row.getByRole('button').click();
    const diff = page.getByLabel('Definition diff');
    await expect.poll(() => diff.textContent()).toContain('+  "description": "Echoes, and now also something else."');
    expect(await screenshot(page, 'catalog-pin-diff')).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Accept the new definition' }).click();
    await expect.poll(() => row.textContent()).toContain('pinned');
    expect(await client.callText('echo', { message: 'after accepting' })).toBe('after accepting');
    await page.close();
  });
});

describe('the audit log with 100,000 records', () => {
  it('pages through by cursor, newest first, 50 at a time, and back', async () => {
    const page = await open('#/audit?server=many');
    const ids = () =>
      page
        .locator('table.audit tbody tr[data-record]')
        .evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-record'))));
    await expect.poll(async () => (await ids()).length).toBe(50);
    const first = await ids();
    expect(first[0]).toBe(RECORDS);
    expect(first).toEqual([...first].sort((a, b) => b - a));
    for (let n = 2; n <= 4; n++) {
      await page.getByRole('button', { name: 'Older →' }).click();
      await expect.poll(() => page.locator('.pager').textContent()).toContain(`Page ${n}`);
      await expect.poll(async () => (await ids())[0]).toBe(RECORDS - (n - 1) * 50);
    }
    await page.getByRole('button', { name: '← Newer' }).click();
    await expect.poll(async () => (await ids())[0]).toBe(RECORDS - 100);
    expect(await screenshot(page, 'audit')).toBeGreaterThan(0);
    await page.close();
  });

  it('filters by tool and decision, and shows a record whole', async () => {
    const page = await open('#/audit');
    await page.getByLabel('Tool').fill('get_invoice_008');
    await page.getByLabel('Decision').selectOption('deny');
    await page.getByRole('button', { name: 'Apply' }).click();
    const rows = page.locator('table.audit tbody tr[data-record]');
    await expect.poll(() => rows.count()).toBe(50);
    for (const text of await rows.allTextContents()) {
      expect(text).toContain('get_invoice_008');
      expect(text).toContain('deny');
    }
    const id = await rows.first().getAttribute('data-record');
    await rows.first().getByRole('button').click();
    const detail = page.getByLabel(`Record ${id}`, { exact: true });
    expect(JSON.parse((await detail.textContent())!)).toMatchObject({ id, tool: 'get_invoice_008', decision: 'deny' });
    await page.close();
  });

  it('shows a call made while the live tail is on', async () => {
    const page = await open('#/audit?server=fixture');
    await page.getByLabel('Live tail').check();
    // The tail starts from the last stored record; give it its first answer before the call.
    await page.waitForResponse((r) => r.url().includes('/api/v1/audit/tail'));
    await client.callText('echo', { message: 'tail me' });
    await ui.gw.core.audit.flush();
    await expect
      .poll(() => page.locator('table.audit tbody').textContent(), { timeout: 10_000 })
      .toContain('fixture/echo');
    await page.close();
  });
});

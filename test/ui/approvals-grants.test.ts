// Proves the approvals page releases a call held in hold mode from a real SDK client: the pending
// approval appears live (over the event stream), its arguments are shown, and Approve in the
// browser lets the call through — the client gets the upstream's real result; Deny with a reason
// gives the agent that reason. And the grants page creates a grant whose token works once shown,
// with client configuration snippets, and revokes it so that the token is refused.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { connectClient, featureServerCommand, firstText, type ConnectedClient } from '../helpers/index.js';
import { screenshot, signIn, startUiTestbed, TOKENS, type UiGateway } from './support.js';

let ui: UiGateway;
let browser: Browser;
let client: ConnectedClient;
let page: Page;

beforeAll(async () => {
  ({ ui, browser, client } = await startUiTestbed(
    {
      servers: { fixture: { ...featureServerCommand('stdio', 'both'), timeout_ms: 60_000, policy: './fixture.json' } },
    },
    {
      'fixture.json': {
        version: '1',
        default: 'allow',
        tools: {
          add: { action: 'require_approval', reason: 'Sums need a second pair of eyes.', approval: { timeout: '2m' } },
        },
      },
    },
  ));
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(page, ui.url, TOKENS.manager, '#/approvals');
  await page.getByText('● Live').waitFor();
});

afterAll(() => ui?.close());

function held(a: number, b: number): Promise<CallToolResult> {
  return client.client.callTool({ name: 'add', arguments: { a, b } }, { timeout: 60_000 }) as Promise<CallToolResult>;
}

describe('approvals in the browser', () => {
  it('shows a held call live with its arguments, and Approve releases it with the upstream’s result', async () => {
    const call = held(20, 22);
    const card = page.locator('li.approval', { hasText: 'fixture/add' }).filter({ hasText: 'pending' });
    await card.waitFor();
    expect(await card.locator('pre.json').textContent()).toContain('"a": 20');
    expect(await card.textContent()).toContain('Sums need a second pair of eyes.');
    expect(await screenshot(page, 'approvals')).toBeGreaterThan(0);
    await card.getByRole('button', { name: 'Approve' }).click();
    const result = await call;
    expect(result.isError).toBeFalsy();
    expect(firstText(result)).toBe('42');
  });

  it('Deny with a reason gives the agent that reason', async () => {
    const call = held(1, 1);
    const card = page.locator('li.approval', { hasText: '"a": 1,' }).filter({ hasText: 'pending' });
    await card.waitFor();
    await card.getByLabel(/Reason/).fill('Not on a Sunday.');
    await card.getByRole('button', { name: 'Deny' }).click();
    const result = await call;
    expect(result.isError).toBe(true);
    expect(firstText(result)).toContain('[APPROVAL DENIED]');
    expect(firstText(result)).toContain('Not on a Sunday.');
  });
});

describe('grants in the browser', () => {
  it('creates a grant whose token is shown once and works, with client snippets, then revokes it', async () => {
    const admin = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signIn(admin, ui.url, TOKENS.admin, '#/grants');
    await admin.getByLabel('Name').fill('laptop');
    await admin.getByLabel('fixture').check();
    await admin.getByRole('button', { name: 'Create grant' }).click();
    const token = await admin.locator('[data-token]').textContent();
    expect(token).toMatch(/\S{20,}/);
    await admin.getByRole('tab', { name: /Cursor/ }).click();
    expect(await admin.getByRole('tabpanel').textContent()).toContain(`Bearer ${token}`);
    expect(await screenshot(admin, 'grants')).toBeGreaterThan(0);

    const agent = await connectClient({
      era: 'legacy',
      downstream: { kind: 'http', url: `${ui.url}/mcp/fixture`, headers: { authorization: `Bearer ${token}` } },
    });
    expect(await agent.callText('echo', { message: 'from the laptop' })).toBe('from the laptop');
    await agent.client.close();

    admin.once('dialog', (d) => void d.accept());
    await admin.locator('tr[data-grant="laptop"]').getByRole('button', { name: 'Revoke' }).click();
    await expect.poll(() => admin.locator('tr[data-grant="laptop"]').textContent()).toContain('revoked');
    const refused = await fetch(`${ui.url}/mcp/fixture`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    expect(refused.status).toBe(401);
    await admin.close();
  });
});

// Proves the policy builder against a running gateway and a real SDK client: setting a tool to
// Deny and saving writes the server's policy file and the next call of that tool is denied (and
// setting it back allows it again); a policy with a problem is refused with its path and the file
// stays as it was; validation and a draft's explanation answer before saving; an inline policy
// cannot be saved (409); a tool an upstream names `*` gets a rule of its own, not one for every
// tool; and a viewer sees no edit button while the API answers 403 to its attempt.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { fileURLToPath } from 'node:url';
import { connectClient, featureServerCommand, firstText, type ConnectedClient } from '../helpers/index.js';
import { TSX_LOADER } from '../helpers/fixture.js';
import { agentDownstream, screenshot, signIn, startUiTestbed, TOKENS, type UiGateway } from './support.js';

const SELF_DESCRIBED = fileURLToPath(new URL('../fixtures/servers/self-described-server.ts', import.meta.url));
/** A server that names one of its tools `*`, under a policy that denies what it does not list. */
const ODD_TOOLS = ['*', 'list_files'].map((name) => ({
  name,
  description: 'Harmless.',
  inputSchema: { type: 'object' },
}));

const FILE = 'version: "1"\n# Everything is allowed unless a rule says otherwise.\ndefault: allow\ntools:\n  add: {}\n';

let ui: UiGateway;
let browser: Browser;
let client: ConnectedClient;
let policyFile: string;

beforeAll(async () => {
  const server = { ...featureServerCommand('stdio', 'both'), timeout_ms: 20_000 };
  ({ ui, browser, client } = await startUiTestbed(
    {
      servers: {
        fixture: { ...server, policy: './fixture.yaml' },
        inline: { ...server, policy: { version: '1', default: 'allow' } },
        odd: {
          command: process.execPath,
          args: ['--import', TSX_LOADER, SELF_DESCRIBED],
          env: { LISTED_TOOLS: JSON.stringify(ODD_TOOLS) },
          timeout_ms: 20_000,
          policy: './odd.yaml',
        },
      },
    },
    { 'fixture.yaml': FILE, 'odd.yaml': 'version: "1"\ndefault: deny\n' },
  ));
  policyFile = join(ui.dir, 'fixture.yaml');
});

afterAll(() => ui?.close());

async function echo(): Promise<CallToolResult> {
  return (await client.client.callTool({ name: 'echo', arguments: { message: 'hi' } })) as CallToolResult;
}

async function openBuilder(token: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await signIn(page, ui.url, token, '#/policy?server=fixture');
  await page.locator('#rule-echo').waitFor();
  return page;
}

describe('the policy builder', () => {
  it('denies a tool that was allowed once Deny is saved, writing the file, and allows it again', async () => {
    expect(firstText(await echo())).toBe('hi');
    const page = await openBuilder(TOKENS.manager);
    await page.locator('#rule-echo').selectOption('deny');
    // The text beside the form follows the form, and the gateway's check passes as you go.
    await expect.poll(() => page.locator('#policy-text').inputValue()).toContain('action: deny');
    await expect.poll(() => page.locator('#policy-problems').textContent()).toContain('Valid');
    // Explained under the draft before saving: the draft denies echo.
    await page.getByLabel('Tool', { exact: true }).fill('echo');
    await page.getByRole('button', { name: 'Explain' }).click();
    await expect.poll(() => page.locator('[data-verdict]').getAttribute('data-verdict')).toBe('deny');
    expect(await screenshot(page, 'policy')).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Save policy' }).click();
    await expect.poll(() => page.getByRole('status').last().textContent()).toContain('in force');

    const written = readFileSync(policyFile, 'utf8');
    expect(written).toContain('echo:\n    action: deny');
    expect(written).toContain('# Everything is allowed unless a rule says otherwise.');
    const denied = await echo();
    expect(denied.isError).toBe(true);
    expect(firstText(denied)).toContain('[POLICY DENIED]');

    await page.locator('#rule-echo').selectOption('default');
    await page.getByRole('button', { name: 'Save policy' }).click();
    await expect.poll(() => readFileSync(policyFile, 'utf8')).not.toContain('echo');
    await expect.poll(async () => (await echo()).isError ?? false).toBe(false);
    await page.close();
  });

  it('shows a bad policy’s problems with their paths and refuses to save it; the file is unchanged', async () => {
    const before = readFileSync(policyFile, 'utf8');
    const page = await openBuilder(TOKENS.manager);
    await page
      .locator('#policy-text')
      .fill('version: "1"\ndefault: maybe\ntools:\n  add:\n    deny_if:\n      - when: "args.a +"\n');
    await expect.poll(() => page.getByRole('list', { name: 'Problems' }).textContent()).toContain('/default');
    expect(await page.getByRole('list', { name: 'Problems' }).textContent()).toContain('/tools/add/deny_if/0/when');
    await page.getByRole('button', { name: 'Save policy' }).click();
    await expect.poll(() => page.getByRole('status').last().textContent()).toContain('Not saved');
    expect(readFileSync(policyFile, 'utf8')).toBe(before);
    await page.close();
  });

  it('validates a limit as it is typed in a Custom rule’s form', async () => {
    const page = await openBuilder(TOKENS.admin);
    await page.locator('#rule-add').selectOption('custom');
    const max = page.getByRole('group', { name: 'Limit 1' }).getByLabel('Max');
    await max.fill('0');
    await expect.poll(() => max.getAttribute('aria-invalid')).toBe('true');
    await expect.poll(() => page.locator('#policy-problems').textContent()).toContain('/tools/add/limits/0/max');
    await max.fill('25');
    await expect.poll(() => page.locator('#policy-text').inputValue()).toContain('max: 25');
    await expect.poll(() => page.locator('#policy-problems').textContent()).toContain('Valid');
    await page.close();
  });

  it('allowing a tool an upstream names * allows that tool alone: the others stay denied', async () => {
    const agent = await connectClient({ era: 'legacy', downstream: agentDownstream(ui.url, 'odd') });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      await signIn(page, ui.url, TOKENS.manager, '#/policy?server=odd');
      const star = page.locator('tr[data-tool="*"] select');
      await star.waitFor();
      await star.selectOption('allow');
      await page.getByRole('button', { name: 'Save policy' }).click();
      await expect.poll(() => page.getByRole('status').last().textContent()).toContain('in force');
      // Written escaped: a key that matches the name `*` and nothing else.
      expect(readFileSync(join(ui.dir, 'odd.yaml'), 'utf8')).toContain('\\*');
      expect(await page.locator('tr[data-tool="*"] select').inputValue()).toBe('allow');
      expect(await page.locator('tr[data-tool="list_files"] select').inputValue()).toBe('default');
      await page.close();

      const odd = (await agent.client.callTool({ name: '*', arguments: {} })) as CallToolResult;
      expect(firstText(odd)).toBe('ran *');
      const other = (await agent.client.callTool({ name: 'list_files', arguments: {} })) as CallToolResult;
      expect(firstText(other)).toContain('[POLICY DENIED]');
    } finally {
      await agent.close();
    }
  });

  it('answers 409 for a server whose policy is inline in the config', async () => {
    const res = await fetch(`${ui.url}/api/v1/policy/inline`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKENS.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'version: "1"\ndefault: deny\n' }),
    });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { code: string }).code).toBe('inline_policy');
  });
});

describe('a viewer', () => {
  it('sees no save or create-grant button, and the API refuses its policy edit with 403', async () => {
    const before = readFileSync(policyFile, 'utf8');
    const page = await openBuilder(TOKENS.viewer);
    expect(await page.locator('.role').getAttribute('data-role')).toBe('viewer');
    expect(await page.getByRole('button', { name: 'Save policy' }).count()).toBe(0);
    const status = await page.evaluate(async (token) => {
      const res = await fetch('/api/v1/policy/fixture', {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'version: "1"\ndefault: deny\n' }),
      });
      return res.status;
    }, TOKENS.viewer);
    expect(status).toBe(403);
    expect(readFileSync(policyFile, 'utf8')).toBe(before);
    await page.goto(`${ui.url}/ui/#/grants`);
    await page.getByRole('heading', { name: 'Grants' }).waitFor();
    expect(await page.getByRole('button', { name: 'Create grant' }).count()).toBe(0);
    await page.close();
  });
});

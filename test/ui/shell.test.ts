// Proves that the gateway serves the built dashboard at /ui/ (index.html for client routes, the
// right content types, year-long caching only for hashed assets, a strict content security policy,
// no secret in any asset), that signing in checks the token with /api/v1/whoami and keeps it for
// the tab, and that the overview shows real numbers: the fixture server's health and the calls a
// real SDK client made, allowed and denied, in the chart, the top tools and the top denials.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featureServerCommand, type ConnectedClient } from '../helpers/index.js';
import { builtUi, screenshot, signIn, startUiTestbed, TOKENS, type UiGateway } from './support.js';

let ui: UiGateway;
let browser: Browser;
let client: ConnectedClient;

beforeAll(async () => {
  ({ ui, browser, client } = await startUiTestbed(
    {
      servers: { fixture: { ...featureServerCommand('stdio', 'both'), timeout_ms: 20_000, policy: './fixture.yaml' } },
    },
    { 'fixture.yaml': 'version: "1"\ndefault: allow\ntools:\n  add:\n    action: deny\n    reason: No sums today.\n' },
  ));
  for (let i = 0; i < 3; i++) await client.callText('echo', { message: `hello ${i}` });
  await client.client.callTool({ name: 'add', arguments: { a: 1, b: 2 } });
  await ui.gw.core.audit.flush();
});

afterAll(() => ui?.close());

describe('serving /ui/', () => {
  it('answers index.html for the root and any client route, revalidated, with a strict CSP', async () => {
    for (const path of ['/ui/', '/ui/catalog', '/ui/some/deep/route']) {
      const res = await fetch(`${ui.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(await res.text()).toContain('<div id="app">');
    }
    const bare = await fetch(`${ui.url}/ui`, { redirect: 'manual' });
    expect(bare.status).toBe(308);
    expect(bare.headers.get('location')).toBe('/ui/');
  });

  it('serves hashed assets with their content type and a year of caching, and 404 for a missing one', async () => {
    const html = await (await fetch(`${ui.url}/ui/`)).text();
    const script = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    const style = /href="(\/ui\/assets\/[^"]+\.css)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    expect(style).toBeDefined();
    const js = await fetch(`${ui.url}${script}`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const css = await fetch(`${ui.url}${style}`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await fetch(`${ui.url}/ui/assets/missing-0000.js`)).status).toBe(404);
    expect((await fetch(`${ui.url}/ui/assets/..%2f..%2fgatehouse.json`)).status).toBe(404);
  });

  it('puts no token, no config value and no external URL in the built assets', async () => {
    const dir = await builtUi();
    const assets = readdirSync(join(dir, 'assets')).map((f) => readFileSync(join(dir, 'assets', f), 'utf8'));
    const all = [readFileSync(join(dir, 'index.html'), 'utf8'), ...assets].join('\n');
    for (const token of Object.values(TOKENS)) expect(all).not.toContain(token);
    expect(all).not.toMatch(/<script[^>]+src="https?:/);
    expect(all).not.toMatch(/<link[^>]+href="https?:/);
  });
});

describe('sign in and overview', () => {
  it('refuses an unknown token, then signs in with the admin token and shows the role', async () => {
    const page = await browser.newPage();
    await page.goto(`${ui.url}/ui/`);
    expect(await screenshot(page, 'sign-in')).toBeGreaterThan(0);
    await page.getByLabel('Admin token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('does not know this token');
    await page.getByLabel('Admin token').fill(TOKENS.admin);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'Dashboard' }).waitFor();
    expect(await page.locator('.role').getAttribute('data-role')).toBe('admin');
    // The token is kept for the tab: a reload stays signed in.
    await page.reload();
    await page.getByRole('navigation', { name: 'Dashboard' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('gatehouse.adminToken'))).toBe(TOKENS.admin);
    await page.close();
  });

  it('shows the server, the calls and decisions, the top tools and the top denials from the audit log', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signIn(page, ui.url, TOKENS.viewer);
    const servers = page.locator('.servers li', { hasText: 'fixture' });
    await expect.poll(() => servers.textContent()).toContain('ready');
    await expect
      .poll(() => page.getByRole('heading', { name: /Calls and decisions/ }).textContent())
      .toContain('4 calls');
    expect(await page.locator('svg[role=img]').getAttribute('aria-label')).toContain('Allowed 3');
    expect(await page.locator('svg[role=img]').getAttribute('aria-label')).toContain('Denied or hidden 1');
    expect(await page.locator('section', { hasText: 'Top tools' }).textContent()).toContain('echo3');
    expect(await page.locator('section', { hasText: 'Top denials' }).textContent()).toContain('add1');
    expect(await screenshot(page, 'overview')).toBeGreaterThan(0);
    await page.close();
  });
});

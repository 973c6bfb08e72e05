// What the dashboard's browser tests share: the dashboard built once per source state (into a
// folder named by the hash of web/, so parallel test files never build over each other), a gateway
// in this process with real fixture servers and admin tokens of every role, Debian's Chromium
// driven by playwright-core (one browser per test file), the test agent's SDK client, signing in,
// and screenshots.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import type { Gateway } from '../../src/gateway/gateway.js';
import { connectClient, startFileGateway, tempDir, type ConnectedClient } from '../helpers/index.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WEB = join(ROOT, 'web');

export const TOKENS = { admin: 'ui-admin-token-1', manager: 'ui-manager-token-1', viewer: 'ui-viewer-token-1' };
/** The grant of the agent whose calls the tests make (every server). */
export const AGENT_TOKEN = 'ui-agent-token-1';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : [path];
  });
}

/** The gateway's modules the dashboard imports (`from '../../src/util/visible.js'`, say). */
function sharedSources(webFiles: string[]): string[] {
  const shared = new Set<string>();
  for (const file of webFiles)
    for (const m of readFileSync(file, 'utf8').matchAll(/from '(?:\.\.\/)+src\/([^']+)\.js'/g))
      shared.add(join(ROOT, 'src', `${m[1]}.ts`));
  return [...shared].sort();
}

/**
 * The built dashboard for the current sources of web/ and of the gateway's modules it imports
 * (built now if no build of them exists).
 */
export async function builtUi(): Promise<string> {
  const hash = createHash('sha256');
  const web = sourceFiles(WEB).sort();
  for (const file of [...web, ...sharedSources(web)]) hash.update(relative(ROOT, file)).update(readFileSync(file));
  const cache = join(ROOT, 'node_modules', '.cache', 'gatehouse-ui');
  const dir = join(cache, hash.digest('hex').slice(0, 16));
  if (existsSync(join(dir, 'index.html'))) return dir;
  mkdirSync(cache, { recursive: true });
  const temp = mkdtempSync(join(cache, 'build-'));
  await build({
    configFile: join(WEB, 'vite.config.ts'),
    logLevel: 'error',
    build: { outDir: temp, emptyOutDir: true },
  });
  try {
    renameSync(temp, dir);
  } catch {
    // Another test file finished the same build first: use theirs.
    rmSync(temp, { recursive: true, force: true });
  }
  return dir;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

export interface UiGateway {
  gw: Gateway;
  url: string;
  dir: string;
  /** Writes a file in the gateway's folder; returns its path. */
  write(name: string, content: unknown): string;
  close(): Promise<void>;
}

/** Where an SDK client reaches one server through the gateway, as the test agent. */
export function agentDownstream(url: string, server: string) {
  return { kind: 'http' as const, url: `${url}/mcp/${server}`, headers: { authorization: `Bearer ${AGENT_TOKEN}` } };
}

/** A gateway on a free loopback port with admin tokens of each role, serving the built dashboard. */
async function startUiGateway(
  config: Record<string, unknown>,
  files: Record<string, unknown> = {},
  prepare?: (dir: string) => void | Promise<void>,
): Promise<UiGateway> {
  const home = tempDir('gatehouse-ui-');
  const dir = home.path;
  for (const [name, content] of Object.entries(files)) home.write(name, content);
  await prepare?.(dir);
  const started = await startFileGateway(
    home,
    {
      listen: { host: '127.0.0.1', port: 0 },
      state: 'memory:',
      audit: `sqlite:${join(dir, 'audit.db')}`,
      auth: {
        mode: 'grants',
        admin_token: TOKENS.admin,
        admin_tokens: {
          manager: { token: TOKENS.manager, role: 'policy_manager' },
          auditor: { token: TOKENS.viewer, role: 'viewer' },
        },
      },
      ...config,
      grants: { agent: { token: AGENT_TOKEN, agent: 'test-agent', servers: Object.keys(config.servers as object) } },
    },
    { uiDir: await builtUi() },
  );
  return { gw: started.gateway, url: started.gateway.url, dir, write: home.write, close: started.close };
}

/**
 * startUiGateway with the browser a test file drives and the test agent's SDK client (legacy era)
 * on the server named fixture. The gateway's close() closes the client and the browser first.
 */
export async function startUiTestbed(
  ...args: Parameters<typeof startUiGateway>
): Promise<{ ui: UiGateway; browser: Browser; client: ConnectedClient }> {
  const gateway = await startUiGateway(...args);
  let browser: Browser | undefined;
  let client: ConnectedClient | undefined;
  const ui: UiGateway = {
    ...gateway,
    close: async () => {
      await client?.client.close();
      await browser?.close();
      await gateway.close();
    },
  };
  try {
    browser = await launchBrowser();
    client = await connectClient({ era: 'legacy', downstream: agentDownstream(gateway.url, 'fixture') });
  } catch (error) {
    await ui.close();
    throw error;
  }
  return { ui, browser, client };
}

/** Opens the dashboard and signs in with a token; resolves when the navigation shows. */
export async function signIn(page: Page, base: string, token: string, hash = '#/overview'): Promise<void> {
  await page.goto(`${base}/ui/${hash}`);
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Dashboard' }).waitFor();
}

/**
 * A screenshot of the page: into docs/screenshots/<name>.png with GATEHOUSE_SCREENSHOTS=1 (to be
 * committed), else into a temporary folder. Returns the PNG's size in bytes.
 */
export async function screenshot(page: Page, name: string): Promise<number> {
  const keep = process.env.GATEHOUSE_SCREENSHOTS === '1';
  const folder = keep ? resolve(ROOT, 'docs', 'screenshots') : mkdtempSync(join(tmpdir(), 'gatehouse-shots-'));
  mkdirSync(folder, { recursive: true });
  const path = join(folder, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  const png = readFileSync(path);
  if (!keep) rmSync(folder, { recursive: true, force: true });
  // A PNG starts with its 8-byte signature; an empty or cut file does not.
  return png.subarray(1, 4).toString('latin1') === 'PNG' ? png.length : 0;
}

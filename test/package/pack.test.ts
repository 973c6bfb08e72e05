// Proves the published package works on its own: `npm pack` of the built repository, installed into
// an empty folder from the npm cache, gives a `gatehouse` command whose --help, init and start work
// (an SDK client reaches the example server through the installed gateway), and a library entry
// whose createGateway starts and closes a gateway. Needs `npm run build` first (npm test does it).
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, firstText, freePort, spawnReady, stopProcess } from '../helpers/index.js';

const run = promisify(execFile);
const REPO = resolve('.');
const TIMEOUT_MS = 180_000;

let work: string;
let app: string;
let bin: string;

/** `npm install` of the tarball from the npm cache; --prefer-offline when the cache lacks a package. */
async function installTarball(tarball: string): Promise<void> {
  // better-sqlite3's install script would spend minutes compiling SQLite (its prebuilt binaries are
  // downloaded from outside the npm registry); the addon the repository's own install built is the
  // same code for the same Node, so scripts are skipped and that addon is copied in.
  const flags = ['--ignore-scripts', '--no-audit', '--no-fund', '--no-save', tarball];
  try {
    await run('npm', ['install', '--offline', ...flags], { cwd: app });
  } catch (error) {
    if (!String((error as { stderr?: string }).stderr).includes('ENOTCACHED')) throw error;
    await run('npm', ['install', '--prefer-offline', ...flags], { cwd: app });
  }
  cpSync(join(REPO, 'node_modules/better-sqlite3/build'), join(app, 'node_modules/better-sqlite3/build'), {
    recursive: true,
  });
}

beforeAll(async () => {
  if (!existsSync(join(REPO, 'dist/index.js')) || !existsSync(join(REPO, 'dist/index.d.ts'))) {
    throw new Error('dist/index.js or dist/index.d.ts is missing: run `npm run build` before this test');
  }
  work = mkdtempSync(join(tmpdir(), 'gatehouse-pack-'));
  app = join(work, 'app');
  const packed = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: REPO });
  const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = info!.files.map((f) => f.path);
  expect(files).toEqual(
    expect.arrayContaining([
      'bin/gatehouse.js',
      'dist/bundle/gatehouse.js',
      'dist/index.js',
      'dist/index.d.ts',
      'README.md',
    ]),
  );
  expect(files.some((f) => f.startsWith('schema/'))).toBe(true);
  expect(files.some((f) => f.startsWith('src/') || f.startsWith('test/'))).toBe(false);
  await run('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'gatehouse-pack-test', private: true }));
  await installTarball(join(work, info!.filename));
  bin = join(app, 'node_modules/.bin/gatehouse');
}, TIMEOUT_MS);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the packed gatehouse package', { timeout: TIMEOUT_MS }, () => {
  it('npx gatehouse --help lists the commands, with examples', async () => {
    const { stdout } = await run('npx', ['--no-install', 'gatehouse', '--help'], { cwd: app });
    expect(stdout).toMatch(/^Usage: gatehouse /);
    for (const command of ['start', 'init', 'import', 'completion'])
      expect(stdout).toMatch(new RegExp(`\\n  ${command}\\b`));
    expect(stdout).toContain('Examples:');
  });

  it('gatehouse init then gatehouse start serve the example server to an SDK client', async () => {
    const init = await run(bin, ['init'], { cwd: app });
    expect(init.stdout).toContain('Wrote gatehouse.yaml and policies/example.yaml');
    const config = readFileSync(join(app, 'gatehouse.yaml'), 'utf8');
    // The installed package runs its compiled example server, not the TypeScript source.
    expect(config).toContain(join(app, 'node_modules/gatehouse/dist/example-server/main.js'));
    writeFileSync(join(app, 'gatehouse.yaml'), config.replace('port: 8080', `port: ${await freePort()}`));
    const proc = await spawnReady({
      command: bin,
      args: ['start'],
      cwd: app,
      env: { GATEHOUSE_CONFIG: '' },
      ready: /Gatehouse is running on (http:\/\/\S+)/,
      timeoutMs: 60_000,
    });
    try {
      const c = await connectClient({ era: 'modern', downstream: { kind: 'http', url: `${proc.match}/mcp/example` } });
      try {
        expect(await c.callText('add', { a: 2, b: 3 })).toBe('5');
        const blocked = await c.client.callTool({ name: 'delete_note', arguments: { id: '1' } });
        expect(firstText(blocked)).toMatch(/^\[POLICY DENIED\]/);
      } finally {
        await c.close();
      }
      // The installed package reads its SQLite audit log on a worker thread: both calls are there.
      const audit = await run(bin, ['audit', '--json'], { cwd: app, env: { ...process.env, GATEHOUSE_CONFIG: '' } });
      const { records } = JSON.parse(audit.stdout) as { records: { tool: string; decision: string }[] };
      const decisions = records.map((r) => `${r.tool}:${r.decision}`);
      expect(decisions.sort()).toEqual(['add:allow', 'delete_note:deny']);
    } finally {
      await stopProcess(proc.child);
    }
  });

  it("the library entry's createGateway starts a gateway from a config object and closes it", async () => {
    const script = `
      import { createGateway } from 'gatehouse';
      import pkg from 'gatehouse/package.json' with { type: 'json' };
      const example = { command: process.execPath, args: ['node_modules/gatehouse/dist/example-server/main.js'] };
      const gateway = createGateway(
        { listen: { port: 0 }, state: 'memory:', audit: 'none', servers: { example } },
        { log: () => {} },
      );
      const address = await gateway.start();
      const health = await fetch(address.url + '/readyz');
      await gateway.close();
      console.log(JSON.stringify({ version: pkg.version, port: address.port, url: address.url, health: health.status }));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: app });
    const out = JSON.parse(stdout) as { version: string; port: number; url: string; health: number };
    expect(out.version).toBe(
      (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version,
    );
    expect(out.port).toBeGreaterThan(0);
    expect(out.url).toBe(`http://127.0.0.1:${out.port}`);
    expect(out.health).toBe(200);
  });
});

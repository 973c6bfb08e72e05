// Proves that what Gatehouse writes to disk keeps its secrets from the other users of the machine:
// the SQLite state and audit file (with its -wal and -shm), the JSON Lines audit log and the audit
// spool, all holding call arguments, are created readable by their owner only, in a folder only
// its owner may enter; `gatehouse import` writes the env values and headers it copies from a
// client's file into a gatehouse.yaml only its owner may read; and neither `gatehouse init` nor
// `gatehouse import` follows a symbolic link left at the path it writes. When the tests run as
// root, another user (nobody) tries to read each file for real.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startGatehouse } from '../helpers/cli.js';
import { connectClient, freePort, stopProcess } from '../helpers/index.js';

const SPAWN_TIMEOUT_MS = 120_000;
const SECRET_ARGUMENT = 'my PIN is 4321, the vault password hunter2';
const NOBODY = 65534;

let root: string;
let n = 0;
/** A fresh folder that every user may enter, as a home or project folder usually is. */
const openDir = (): string => {
  const dir = mkdtempSync(join(root, `case-${n++}-`));
  chmodSync(dir, 0o755);
  return dir;
};

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'gatehouse-files-'));
  chmodSync(root, 0o755);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const modeOf = (path: string) => statSync(path).mode & 0o777;

/** What another local user gets by reading `path`: undefined when refused (checked only as root). */
function readAsAnotherUser(path: string): string | undefined {
  const run = spawnSync('cat', [path], { uid: NOBODY, gid: NOBODY, encoding: 'utf8' });
  return run.status === 0 ? run.stdout : undefined;
}
const asRoot = process.getuid?.() === 0;

/**
 * `gatehouse init` in `dir`, moved to a free port and given `audit`, served while one call is made;
 * `check` looks at the files while the gateway still runs, its audit spool open.
 */
async function initServeAndCall(dir: string, audit: string | undefined, check: () => void): Promise<void> {
  const init = await runCli(['init'], { cwd: dir });
  expect(init.code, init.stderr).toBe(0);
  let text = readFileSync(join(dir, 'gatehouse.yaml'), 'utf8').replace('port: 8080', `port: ${await freePort()}`);
  if (audit) text = text.replace(/^audit: .*$/m, `audit: ${audit}`).replace(/^state: .*$/m, "state: 'memory:'");
  writeFileSync(join(dir, 'gatehouse.yaml'), text);
  const proc = await startGatehouse([], {
    cwd: dir,
    ready: /Gatehouse is running on (http:\/\/\S+)/,
    timeoutMs: 60_000,
  });
  try {
    const c = await connectClient({ era: 'legacy', downstream: { kind: 'http', url: `${proc.match}/mcp/example` } });
    try {
      expect(await c.callText('write_note', { title: 'bank', body: SECRET_ARGUMENT })).toContain('Saved note');
    } finally {
      await c.close();
    }
    // The record is in the spool before the call is answered, in the sink a moment later.
    await waitFor(() => check());
  } finally {
    await stopProcess(proc.child);
  }
}

async function waitFor(check: () => void): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      return check();
    } catch (error) {
      if (i >= 50) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Every file of `folder` is owner-only, and another user (when the test is root) reads none of them. */
function ownerOnly(folder: string): string[] {
  const files = readdirSync(folder).map((f) => join(folder, f));
  for (const f of files) expect(`${f} ${modeOf(f).toString(8)}`).toBe(`${f} 600`);
  if (asRoot) {
    chmodSync(folder, 0o755); // even in a folder they may enter, the files themselves refuse them
    for (const f of files) expect(readAsAnotherUser(f), f).toBeUndefined();
    chmodSync(folder, 0o700);
  }
  return files;
}

describe('files on disk', { timeout: SPAWN_TIMEOUT_MS }, () => {
  it('the starter SQLite state file, its -wal and -shm, and the audit spool are owner-only (0600) in an owner-only .gatehouse (0700)', async () => {
    const dir = openDir();
    const folder = join(dir, '.gatehouse');
    await initServeAndCall(dir, undefined, () => {
      expect(modeOf(folder).toString(8)).toBe('700');
      const names = readdirSync(folder);
      expect(names).toEqual(expect.arrayContaining(['state.db', 'state.db-wal', 'state.db-shm']));
      expect(names.some((f) => /^audit-spool-.*\.jsonl$/.test(f))).toBe(true);
      // The arguments are there: the audit log and its spool hold them, which is why nobody else may read them.
      const files = ownerOnly(folder);
      expect(files.map((f) => readFileSync(f).toString('latin1')).join('')).toContain(SECRET_ARGUMENT);
    });
  });

  it('a JSON Lines audit log and its spool in .gatehouse are owner-only (0600) in owner-only folders (0700)', async () => {
    const dir = openDir();
    await initServeAndCall(dir, "{ sink: 'jsonl:./logs/audit.jsonl', spool: on }", () => {
      const log = join(dir, 'logs', 'audit.jsonl');
      expect(readFileSync(log, 'utf8')).toContain(SECRET_ARGUMENT);
      expect(modeOf(join(dir, 'logs')).toString(8)).toBe('700');
      expect(modeOf(join(dir, '.gatehouse')).toString(8)).toBe('700');
      ownerOnly(join(dir, 'logs'));
      const spool = ownerOnly(join(dir, '.gatehouse'));
      expect(spool.map((f) => readFileSync(f, 'utf8')).join('')).toContain(SECRET_ARGUMENT);
    });
  });

  it('gatehouse import writes the API keys and bearer tokens it copies from a client file into an owner-only gatehouse.yaml, also over an existing 0644 one with --force', async () => {
    const dir = openDir();
    const client = join(dir, 'claude_desktop_config.json');
    writeFileSync(
      client,
      JSON.stringify({
        mcpServers: {
          github: {
            command: process.execPath,
            args: ['-e', 'process.exit(1)'],
            env: { GITHUB_TOKEN: 'ghp_importsecret' },
          },
          remote: { url: 'http://127.0.0.1:9/mcp', headers: { Authorization: 'Bearer sk-importsecret' } },
        },
      }),
      { mode: 0o600 },
    );
    const config = join(dir, 'gatehouse.yaml');
    writeFileSync(config, '# an older config\n', { mode: 0o644 });
    const run = await runCli(['import', client, '-o', config, '--timeout', '10', '--force']);
    expect(run.code, run.stderr).toBe(0);
    const written = readFileSync(config, 'utf8');
    expect(written).toContain('ghp_importsecret');
    expect(written).toContain('sk-importsecret');
    expect(modeOf(config).toString(8)).toBe('600');
    if (asRoot) expect(readAsAnotherUser(config)).toBeUndefined();
  });

  it('gatehouse import takes a link pointing nowhere at gatehouse.yaml for a file: refused without --force, replaced (never followed) with it', async () => {
    const dir = openDir();
    const elsewhere = openDir();
    const client = join(dir, 'mcp.json');
    writeFileSync(
      client,
      JSON.stringify({
        mcpServers: { remote: { url: 'http://127.0.0.1:9/mcp', headers: { 'X-Key': 'k-linksecret' } } },
      }),
    );
    const config = join(dir, 'gatehouse.yaml');
    const target = join(elsewhere, 'loot.yaml');
    symlinkSync(target, config);

    const refused = await runCli(['import', client, '-o', config, '--timeout', '10']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('already exists; add --force to overwrite');
    expect(existsSync(target)).toBe(false);

    const forced = await runCli(['import', client, '-o', config, '--timeout', '10', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(existsSync(target)).toBe(false);
    expect(lstatSync(config).isSymbolicLink()).toBe(false);
    expect(readFileSync(config, 'utf8')).toContain('k-linksecret');
  });

  it('gatehouse init --force replaces a link at gatehouse.yaml instead of overwriting the file it points at', async () => {
    const dir = openDir();
    const elsewhere = openDir();
    const precious = join(elsewhere, 'precious.txt');
    writeFileSync(precious, 'keep me\n');
    symlinkSync(precious, join(dir, 'gatehouse.yaml'));
    const refused = await runCli(['init'], { cwd: dir });
    expect(refused.code).toBe(2);
    const forced = await runCli(['init', '--force'], { cwd: dir });
    expect(forced.code, forced.stderr).toBe(0);
    expect(readFileSync(precious, 'utf8')).toBe('keep me\n');
    expect(lstatSync(join(dir, 'gatehouse.yaml')).isSymbolicLink()).toBe(false);
    expect(readFileSync(join(dir, 'gatehouse.yaml'), 'utf8')).toMatch(/^# Gatehouse configuration/);
  });
});

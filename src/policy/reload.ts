// Hot reload: policy files and the config file (for inline policies) are watched; a valid change
// takes effect for the next call without dropping sessions, an invalid one keeps the last good
// policies and logs every problem with its path.
//
// Each file is watched itself, not its directory: the directory often also holds the state
// database, its WAL and the audit spool, and a directory watch would wake the gateway for every
// write to them, several times per call. Editors save by writing a new file and renaming it over
// the old one, which leaves a file watch on the old file: a rename event re-arms it on the new one,
// and a slow poll of each file's status is the safety net for a file that was missing or replaced
// in a way the watch did not report.
import { unwatchFile, watch, watchFile, type FSWatcher, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import { PolicyError, type CompiledPolicy } from './compile.js';

export interface ReloadTarget {
  /** Compiles every policy the config names; throws PolicyError / ConfigError listing the problems. */
  compile(
    loaded: LoadedConfig,
  ): Promise<{ servers: Map<string, CompiledPolicy>; grants: Map<string, CompiledPolicy | undefined> }>;
  /** Puts new policies in force; returns the servers whose policy changed. */
  apply(next: { servers: Map<string, CompiledPolicy>; grants: Map<string, CompiledPolicy | undefined> }): string[];
  log(level: 'info' | 'warn' | 'error', msg: string): void;
  /** Tells the clients of a server that what they may see changed. */
  announce(server: string): void;
}

const DEBOUNCE_MS = 150;
/** How often each watched file's status is polled, as the safety net. */
const POLL_MS = 500;
/** A file rewritten more often than the debounce still reloads this soon after its first change. */
const MAX_WAIT_MS = 1_000;

export class PolicyReloader {
  private watchers = new Map<string, FSWatcher>();
  private polled: Array<[string, (now: Stats, before: Stats) => void]> = [];
  private timer: NodeJS.Timeout | undefined;
  /** When the first change not yet reloaded was seen; undefined when none is waiting. */
  private firstChangeAt: number | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  /** The last outcome, for health and tests: ok, or the problems that kept the old policy. */
  lastError: string | undefined;
  reloads = 0;

  constructor(
    private loaded: LoadedConfig,
    private readonly target: ReloadTarget,
  ) {}

  /** Files whose change may change a policy: the config file and every policy file it names. */
  private files(): string[] {
    const files = new Set<string>();
    if (this.loaded.path) files.add(resolve(this.loaded.path));
    for (const s of Object.values(this.loaded.config.servers))
      if (typeof s.policy === 'string') files.add(resolve(s.policy));
    for (const g of Object.values(this.loaded.config.grants))
      if (typeof g.policy === 'string') files.add(resolve(g.policy));
    return [...files];
  }

  start(): void {
    this.stop();
    this.stopped = false;
    for (const file of this.files()) {
      const onPoll = (now: Stats, before: Stats): void => {
        if (now.mtimeMs === before.mtimeMs && now.ino === before.ino && now.size === before.size) return;
        this.schedule();
        this.arm(file);
      };
      watchFile(file, { interval: POLL_MS, persistent: false }, onPoll);
      this.polled.push([file, onPoll]);
      this.arm(file);
    }
  }

  /** Watches the file now at `file`; a file that does not exist is left to the poll. */
  private arm(file: string): void {
    this.watchers.get(file)?.close();
    this.watchers.delete(file);
    try {
      const w = watch(file, { persistent: false }, (event) => {
        this.schedule();
        // The name may now be another file (saved by rename): watch that one.
        if (event === 'rename') this.arm(file);
      });
      w.on('error', (err) => this.target.log('warn', `watching ${file} failed: ${err.message}`));
      this.watchers.set(file, w);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.target.log(
          'warn',
          `cannot watch ${file} for policy changes (checked every ${POLL_MS} ms instead): ${err instanceof Error ? err.message : String(err)}`,
        );
    }
  }

  private schedule(): void {
    // Wait for the writes to settle, but not for ever: an editor or a deploy that keeps touching
    // the file must not keep the old policy in force indefinitely.
    const now = Date.now();
    this.firstChangeAt ??= now;
    const delay = Math.max(0, Math.min(DEBOUNCE_MS, this.firstChangeAt + MAX_WAIT_MS - now));
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.firstChangeAt = undefined;
      this.running = this.running.then(() => this.reload());
    }, delay);
  }

  /** A server's policy as the config in force names it (a file path, inline, or none): a reload may change it. */
  policyOf(server: string): unknown {
    return this.loaded.config.servers[server]?.policy;
  }

  /** Reloads now (also used by tests); never throws. */
  async reload(): Promise<void> {
    try {
      const loaded = this.loaded.path ? await loadConfig({ file: this.loaded.path }) : this.loaded;
      const lost = policiesLost(this.loaded, loaded);
      if (lost.length > 0) throw new PolicyError(lost);
      const next = await this.target.compile(loaded);
      const changed = this.target.apply(next);
      const added = Object.keys(loaded.config.servers).filter((s) => !(s in this.loaded.config.servers));
      if (added.length > 0)
        this.target.log(
          'warn',
          `new servers (${added.join(', ')}) take effect after a restart; their policies were not loaded`,
        );
      const pathsChanged = JSON.stringify(this.filesOf(loaded)) !== JSON.stringify(this.filesOf(this.loaded));
      this.loaded = {
        ...this.loaded,
        config: { ...this.loaded.config, servers: loaded.config.servers, grants: loaded.config.grants },
      };
      // Not after stop(): a reload that was running then must not watch again.
      if (pathsChanged && !this.stopped) this.start();
      this.lastError = undefined;
      this.reloads++;
      this.target.log(
        'info',
        changed.length > 0 ? `policy reloaded: ${changed.join(', ')}` : 'policy files checked: nothing changed',
      );
      for (const s of changed) this.target.announce(s);
    } catch (err) {
      this.lastError = describe(err);
      this.target.log('error', `policy reload refused; the last good policy stays in force:\n${this.lastError}`);
    }
  }

  private filesOf(loaded: LoadedConfig): string[] {
    const prev = this.loaded;
    this.loaded = loaded;
    const files = this.files();
    this.loaded = prev;
    return files;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.firstChangeAt = undefined;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    for (const [f, onPoll] of this.polled) unwatchFile(f, onPoll);
    this.polled = [];
  }
}

/**
 * Servers of the running gateway that had a policy and would have none after the reload (their
 * `policy:` gone, or the server gone from the file): every call to them would be allowed. A config
 * file cut short while it is written looks exactly like that, so a reload never takes a server's
 * policy away; a restart does, with its warning. The same for a grant's own policy.
 */
function policiesLost(before: LoadedConfig, after: LoadedConfig): { path: string; message: string }[] {
  const lost: { path: string; message: string }[] = [];
  for (const [name, server] of Object.entries(before.config.servers)) {
    if (server.policy === undefined || after.config.servers[name]?.policy !== undefined) continue;
    const gone = !(name in after.config.servers);
    lost.push({
      path: `/servers/${name}${gone ? '' : '/policy'}`,
      message: `${gone ? 'the server is no longer in the config' : 'the server no longer names a policy'}, which would allow every call to it; a reload never removes a server's policy (restart the gateway to do that)`,
    });
  }
  // A grant's own policy replaces its servers' policies: losing it would put the grant under theirs,
  // which may allow far more. A cut config looks like that too.
  for (const [name, grant] of Object.entries(before.config.grants ?? {})) {
    const now = after.config.grants?.[name];
    if (grant.policy === undefined || now === undefined || now.policy !== undefined) continue;
    lost.push({
      path: `/grants/${name}/policy`,
      message: `the grant no longer names a policy, which would put it under its servers' policies; a reload never removes a grant's policy (restart the gateway to do that)`,
    });
  }
  return lost;
}

function describe(err: unknown): string {
  if (err instanceof PolicyError) return err.problems.map((p) => `  ${p.path || '/'}: ${p.message}`).join('\n');
  if (err instanceof ConfigError) return err.format();
  return err instanceof Error ? err.message : String(err);
}

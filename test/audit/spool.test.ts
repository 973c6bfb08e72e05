// Proves the audit spool: every record written is in the spool file when write() returns; a writer
// that dies without flushing (its process killed) leaves records that the next writer on the same
// sink stores, each once; a record shipped again (death between the sink's insert and the spool's
// shipped mark) is stored once: in SQLite and in a real PostgreSQL, because the sinks keep one row
// per record uid, and in a JSON Lines file, which finds them at its end; and a PostgreSQL table from
// before the uid keeps its rows when migrated.
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditConfig } from '../../src/audit/config-schema.js';
import { openAuditLog, openAuditSink } from '../../src/audit/open-audit-log.js';
import { AUDIT_MIGRATIONS } from '../../src/audit/postgres-migrations.js';
import { PostgresAuditSink } from '../../src/audit/postgres-sink.js';
import type { AuditLog } from '../../src/audit/record.js';
import { SqliteAuditSink } from '../../src/audit/sqlite-sink.js';
import { AuditSpool } from '../../src/audit/spool.js';
import { holdWriteLock } from '../store/hold-write-lock.js';
import { makeRecord, recordSeries } from './make-record.js';
import { dropSchema, PG_BASE, pgAuditUrl, uniqueSchema } from './pg.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-spool-'));
const schemas: string[] = [];
const abandoned: AuditLog[] = [];
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  // The writers a test "killed" still hold their sink's connections.
  for (const log of abandoned) await log.close();
  for (const s of schemas) await dropSchema(s);
  rmSync(dir, { recursive: true, force: true });
});

const config = (sink: string, spool: AuditConfig['spool'] = 'on'): AuditConfig => ({
  sink,
  arguments: 'redacted',
  retention: 10 * 365 * 86_400,
  queue_max: 10_000,
  spool,
});
/** A writer whose batches would wait an hour: what it holds is only in memory and in the spool. */
const NEVER = { intervalMs: 3_600_000, batchSize: 100_000 };

/** A process id no process has: above the kernel's largest (4,194,304). */
const DEAD_PID = 999_999_999;
/** The lock file of the first slot a spool for `sink` takes in `folder`, left free. */
const lockOfFirstSlot = (folder: string, sink: string) => {
  const { spool } = AuditSpool.open(folder, sink, 'on');
  spool.close();
  return spool.file.replace(/\.jsonl$/, '.lock');
};
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
/**
 * Starts `count` processes at once that each open a spool for `sink` in `folder` (and append one
 * record with `requestId`, if given) and then hold it until killed; resolves with each one's spool
 * file once all have opened.
 */
const openInChildren = (folder: string, sink: string, count: number, requestId?: string, wrapper: string[] = []) => {
  const opener = `
    import { AuditSpool } from ${JSON.stringify(new URL('../../src/audit/spool.ts', import.meta.url).href)};
    const { spool, leftovers } = AuditSpool.open(process.argv[1], ${JSON.stringify(sink)}, 'on');
    const record = process.argv[2] ? JSON.parse(process.argv[2]) : undefined;
    if (record) spool.append(record);
    process.stdout.write(JSON.stringify({ file: spool.file, left: leftovers.map((l) => l.record.request_id) }) + '\\n');
    // Held until killed, or until the test's process is gone and stdin ends.
    process.stdin.on('end', () => process.exit(0)).resume();
  `;
  const record = requestId ? JSON.stringify({ ...makeRecord({ request_id: requestId }), uid: requestId }) : '';
  return Promise.all(
    Array.from({ length: count }, () => {
      const [command, ...args] = [...wrapper, process.execPath, '--import', TSX, '--input-type=module', '-e', opener];
      const child = spawn(command!, [...args, folder, record], { stdio: ['pipe', 'pipe', 'inherit'] });
      children.push(child);
      return new Promise<{ child: ChildProcess; file: string; left: string[] }>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.endsWith('\n')) resolve({ child, ...(JSON.parse(out) as { file: string; left: string[] }) });
        });
        child.once('exit', (code) => reject(new Error(`a spool opener exited with ${code} before opening`)));
      });
    }),
  );
};
const spoolFiles = (folder: string) => readdirSync(folder).filter((f) => /^audit-spool-.*\.jsonl$/.test(f));
const requestIds = async (sink: string, base: string) => {
  const reader = openAuditSink(sink, base)!;
  try {
    return (await reader.query({ limit: 1000 })).records.map((r) => r.request_id).sort();
  } finally {
    await reader.close();
  }
};

describe.each(['on', 'fsync'] as const)('the audit spool (%s)', (mode) => {
  it('a writer killed before its batch was stored: the next writer on the sink stores every record once', async () => {
    const folder = mkdtempSync(join(dir, 'crash-'));
    const sink = `sqlite:${join(folder, 'audit.db')}`;
    const first = openAuditLog(config(sink, mode), folder, NEVER);
    abandoned.push(first);
    for (const r of recordSeries(25)) first.write(r);
    // Nothing stored yet, everything in the spool, each record with its own uid.
    expect(await requestIds(sink, folder)).toEqual([]);
    const [file] = spoolFiles(folder);
    const spooled = readFileSync(join(folder, file!), 'utf8').trim().split('\n');
    expect(spooled).toHaveLength(25);
    expect(new Set(spooled.map((l) => (JSON.parse(l) as { uid: string }).uid)).size).toBe(25);

    // The first writer is never flushed nor closed, as after kill -9.
    const second = openAuditLog(config(sink, mode), folder);
    await second.flush();
    const expected = Array.from({ length: 25 }, (_, i) => String(i)).sort();
    expect(await requestIds(sink, folder)).toEqual(expected);
    second.write(makeRecord({ request_id: 'after' }));
    await second.close();
    expect(await requestIds(sink, folder)).toEqual([...expected, 'after'].sort());
    // Everything is stored: a clean close leaves no spool behind.
    expect(spoolFiles(folder)).toEqual([]);
  });
});

describe.each([
  ['sqlite', (folder: string) => `sqlite:${join(folder, 'audit.db')}`],
  // A file has no uid index: the records shipped twice are found at its end.
  ['jsonl', (folder: string) => `jsonl:${join(folder, 'audit.jsonl')}`],
  [
    'postgres',
    () => {
      const schema = uniqueSchema();
      schemas.push(schema);
      return pgAuditUrl(schema);
    },
  ],
])('shipping a spool twice, %s sink', (_kind, sinkUrl) => {
  it('records stored but not marked shipped when the gateway died are stored once', async () => {
    const folder = mkdtempSync(join(dir, 'twice-'));
    const sink = sinkUrl(folder);
    const first = openAuditLog(config(sink), folder);
    abandoned.push(first);
    for (const r of recordSeries(10)) first.write(r);
    await first.flush();
    expect(await requestIds(sink, folder)).toHaveLength(10);
    // Death between the sink's insert and the shipped mark: the mark still says nothing is shipped.
    // The spool is beside an SQLite log, else in .gatehouse by the config.
    const spoolDir = sink.startsWith('sqlite:') ? folder : join(folder, '.gatehouse');
    expect(spoolFiles(spoolDir)).toHaveLength(1);
    const [file] = spoolFiles(spoolDir);
    writeFileSync(join(spoolDir, `${file!}.shipped`), '0');

    const second = openAuditLog(config(sink), folder);
    // A new record in the same first batch as the ten shipped again.
    second.write(makeRecord({ request_id: 'after' }));
    await second.flush();
    // All ten were shipped again, and the new one...
    expect(second.stats?.().written).toBe(11);
    await second.close();
    // ...and each is stored once.
    expect(await requestIds(sink, folder)).toEqual(
      [...Array.from({ length: 10 }, (_, i) => String(i)), 'after'].sort(),
    );
  });
});

describe('a JSON Lines log whose last line a crash cut short', () => {
  it('keeps the record shipped again after the cut line, readable, and every other once', async () => {
    const folder = mkdtempSync(join(dir, 'cut-'));
    const log = join(folder, 'audit.jsonl');
    const first = openAuditLog(config(`jsonl:${log}`), folder);
    abandoned.push(first);
    for (const r of recordSeries(10)) first.write(r);
    await first.flush();
    // The gateway died while appending: the last record's line is cut short, and the spool's mark
    // says nothing of the batch is shipped.
    truncateSync(log, statSync(log).size - 20);
    const spoolDir = join(folder, '.gatehouse');
    expect(spoolFiles(spoolDir)).toHaveLength(1);
    writeFileSync(join(spoolDir, `${spoolFiles(spoolDir)[0]!}.shipped`), '0');

    const second = openAuditLog(config(`jsonl:${log}`), folder);
    second.write(makeRecord({ request_id: 'after' }));
    await second.flush();
    await second.close();
    // Nine found whole at the end and not appended again; the cut one and the new one readable.
    expect(await requestIds(`jsonl:${log}`, folder)).toEqual(
      [...Array.from({ length: 10 }, (_, i) => String(i)), 'after'].sort(),
    );
  });
});

describe('sinks store a record uid once', () => {
  it('SQLite: the same record twice is one row; records without a uid are all kept', async () => {
    const sink = new SqliteAuditSink(join(dir, 'uid.db'));
    const r = makeRecord({ uid: 'u-1' });
    await sink.insert([r, r]);
    await sink.insert([r, makeRecord(), makeRecord()]);
    expect((await sink.query({})).records.map((x) => x.uid ?? null)).toEqual([null, null, 'u-1']);
    await sink.close();
  });

  it('PostgreSQL: a table from before the uid keeps its rows, then stores each uid once', async () => {
    const schema = uniqueSchema();
    schemas.push(schema);
    const client = new pg.Client({ connectionString: PG_BASE });
    await client.connect();
    try {
      // A database that a Gatehouse without uids set up and wrote to.
      await client.query(`CREATE SCHEMA "${schema}"; SET search_path TO "${schema}"`);
      await client.query(AUDIT_MIGRATIONS[0]!);
      await client.query(
        `CREATE TABLE gatehouse_schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL, migrated_at TIMESTAMPTZ NOT NULL DEFAULT now());
         INSERT INTO gatehouse_schema_version (component, version) VALUES ('audit', 1)`,
      );
      await client.query(
        `INSERT INTO gatehouse_audit (ts, server, subject, tool, "grant", agent, session, decision, record)
         VALUES (1, 'github', 'tool', 'get_issue', 'ci', 'ci-bot', 's1', 'allow', '{"ts":1,"request_id":"old"}')`,
      );
    } finally {
      await client.end();
    }
    const sink = new PostgresAuditSink(pgAuditUrl(schema));
    try {
      const r = makeRecord({ uid: 'u-1', request_id: 'new' });
      await sink.insert([r, r]);
      await sink.insert([r]);
      const records = (await sink.query({})).records;
      expect(records.map((x) => x.request_id).sort()).toEqual(['new', 'old']);
    } finally {
      await sink.close();
    }
  });
});

/**
 * Appends `count` records of 300 KB (`<prefix>-0`, `<prefix>-1`, ...) as a sink that stores
 * asynchronously sees them: each is marked shipped (by `ship`) only once the next is appended.
 */
function appendLagging(spool: AuditSpool, prefix: string, count: number, ship: (end: number) => void): void {
  const big = 'x'.repeat(300_000);
  let previous = 0;
  for (let i = 0; i < count; i++) {
    const end = spool.append(makeRecord({ request_id: `${prefix}-${i}`, error: big }));
    if (previous > 0) ship(previous);
    previous = end;
  }
}

describe('the spool shipped mark', () => {
  it('is overwritten in place: a mark cut back to 0 after a long one reads 0, and the next start ships from it', () => {
    const folder = mkdtempSync(join(dir, 'mark-'));
    const { spool } = AuditSpool.open(folder, 'sqlite:x.db', 'on');
    const markFile = `${spool.file}.shipped`;
    // Records large enough to pass the size at which a fully shipped spool is cut back.
    const big = 'x'.repeat(300_000);
    let end = 0;
    for (let i = 0; i < 15; i++) end = spool.append(makeRecord({ request_id: `big-${i}`, error: big }));
    spool.shipped(end - 1);
    expect(Number(readFileSync(markFile, 'utf8').trim())).toBe(end - 1);
    spool.shipped(end);
    expect(Number(readFileSync(markFile, 'utf8').trim())).toBe(0);
    const kept = spool.append(makeRecord({ request_id: 'after-rewind' }));
    spool.shipped(kept);
    spool.append(makeRecord({ request_id: 'unshipped' }));
    // The process dies without closing: the next gateway in this folder takes over the slot.
    const next = AuditSpool.open(folder, 'sqlite:x.db', 'on');
    expect(next.leftovers.map((l) => l.record.request_id)).toEqual(['unshipped']);
    next.spool.close();
  });

  it('stays bounded when each batch is stored while the next records arrive (an asynchronous sink), and the next start ships exactly the rest', () => {
    const folder = mkdtempSync(join(dir, 'compact-'));
    const { spool } = AuditSpool.open(folder, 'postgres://db/audit', 'on');
    let largest = 0;
    // 45 MB in all; the sink has always stored all but the newest record.
    const grown = () => (largest = Math.max(largest, statSync(spool.file).size));
    appendLagging(spool, 'r', 150, (end) => {
      grown();
      spool.shipped(end);
    });
    grown();
    expect(largest).toBeLessThan(34 * 1024 * 1024);
    const next = AuditSpool.open(folder, 'postgres://db/audit', 'on');
    expect(next.leftovers.map((l) => l.record.request_id)).toEqual(['r-149']);
    next.spool.close();
  });

  it('is named after the sink without its password: a gateway restarted with a rotated password ships what the killed one left', () => {
    const folder = mkdtempSync(join(dir, 'rotate-'));
    const { spool } = AuditSpool.open(folder, 'postgres://audit:old-secret@db/gh', 'on');
    spool.append(makeRecord({ request_id: 'before-rotation' }));
    expect(spool.file).not.toContain('old-secret');
    // Killed without closing; restarted with the new password.
    const next = AuditSpool.open(folder, 'postgres://audit:new-secret@db/gh', 'on');
    expect(next.leftovers.map((l) => l.record.request_id)).toEqual(['before-rotation']);
    next.spool.close();
  });

  it('takes over what a spool named after the whole URL (an earlier version) left, once', () => {
    const folder = mkdtempSync(join(dir, 'legacy-name-'));
    const sink = 'postgres://audit:pw@db/gh';
    const old = join(folder, `audit-spool-${createHash('sha256').update(sink).digest('hex').slice(0, 12)}-0.jsonl`);
    writeFileSync(old, JSON.stringify(makeRecord({ request_id: 'left-by-old-name', uid: 'u-old-1' })) + '\n');
    writeFileSync(`${old}.shipped`, '0');
    const first = AuditSpool.open(folder, sink, 'on');
    expect(first.leftovers.map((l) => l.record.request_id)).toEqual(['left-by-old-name']);
    expect(existsSync(old)).toBe(false);
    // Now in the new spool: a gateway killed before storing it ships it at the next start.
    const second = AuditSpool.open(folder, sink, 'on');
    expect(second.leftovers.map((l) => l.record.request_id)).toEqual(['left-by-old-name']);
    second.spool.close();
  });

  it('a rewrite that fails (its temporary file cannot be made) still moves the shipped mark, and the next start ships exactly the rest', () => {
    const folder = mkdtempSync(join(dir, 'compact-fails-'));
    const { spool } = AuditSpool.open(folder, 'postgres://db/fails', 'on');
    // A folder where the rewrite's temporary file goes: writing it fails.
    mkdirSync(`${spool.file}.tmp`);
    let failures = 0;
    appendLagging(spool, 'f', 120, (end) => {
      try {
        spool.shipped(end);
      } catch {
        failures++;
      }
    });
    expect(failures).toBeGreaterThan(0);
    // The disk is mended; the gateway was killed.
    rmSync(`${spool.file}.tmp`, { recursive: true });
    const next = AuditSpool.open(folder, 'postgres://db/fails', 'on');
    expect(next.leftovers.map((l) => l.record.request_id)).toEqual(['f-119']);
    next.spool.close();
  });

  it('a slot a running process holds is skipped, and taken over with what it left once that process is killed', async () => {
    const folder = mkdtempSync(join(dir, 'lock-killed-'));
    const [holder] = await openInChildren(folder, 'sqlite:killed.db', 1, 'held-1');
    const beside = AuditSpool.open(folder, 'sqlite:killed.db', 'on');
    expect(beside.spool.file).not.toBe(holder!.file);
    expect(beside.leftovers).toEqual([]);
    beside.spool.close();
    holder!.child.kill('SIGKILL');
    await new Promise((resolve) => holder!.child.once('exit', resolve));
    // The kernel dropped the dead process's lock: its slot, and the record it left, are taken over.
    const next = AuditSpool.open(folder, 'sqlite:killed.db', 'on');
    expect(next.spool.file).toBe(holder!.file);
    expect(next.leftovers.map((l) => l.record.request_id)).toEqual(['held-1']);
    next.spool.close();
  }, 60_000);

  it('a slot held by a process that another set of process ids cannot see (another container) is not taken', async () => {
    const folder = mkdtempSync(join(dir, 'lock-namespace-'));
    const [holder] = await openInChildren(folder, 'sqlite:namespace.db', 1);
    // A gateway in a process namespace of its own, where the holder's process id names no process.
    const [beside] = await openInChildren(folder, 'sqlite:namespace.db', 1, undefined, [
      'unshare',
      '--pid',
      '--fork',
      '--kill-child',
    ]);
    expect(beside!.file).not.toBe(holder!.file);
  }, 60_000);

  it("a slot whose lock file (an earlier Gatehouse's) names a running process is left to it; one naming a dead process is taken", () => {
    const folder = mkdtempSync(join(dir, 'lock-legacy-'));
    const lock = lockOfFirstSlot(folder, 'sqlite:legacy.db');
    // The process running vitest stands for an earlier Gatehouse holding the slot.
    writeFileSync(lock, String(process.ppid));
    const beside = AuditSpool.open(folder, 'sqlite:legacy.db', 'on');
    expect(beside.spool.file).toMatch(/-1\.jsonl$/);
    expect(readFileSync(lock, 'utf8')).toBe(String(process.ppid));
    beside.spool.close();
    writeFileSync(lock, String(DEAD_PID));
    const next = AuditSpool.open(folder, 'sqlite:legacy.db', 'on');
    expect(next.spool.file).toMatch(/-0\.jsonl$/);
    // Named for earlier Gatehouses sharing the folder, and removed at close.
    expect(readFileSync(lock, 'utf8').trim()).toBe(String(process.pid));
    next.spool.close();
    expect(existsSync(lock)).toBe(false);
  });

  it('a spool that fails to open lets go the slots of spools named the earlier way it was taking over', async () => {
    const folder = mkdtempSync(join(dir, 'lock-failed-adopt-'));
    const old = 'postgres://gatehouse:secret@db/failed';
    // What a gateway of an earlier version, which named the spool after the whole URL, left; the
    // spool is named after the URL without its password now.
    const before = join(folder, `audit-spool-${createHash('sha256').update(old).digest('hex').slice(0, 12)}-0.jsonl`);
    writeFileSync(before, JSON.stringify({ ...makeRecord({ request_id: 'earlier' }), uid: 'earlier' }) + '\n');
    writeFileSync(`${before}.shipped`, '0');
    const first = lockOfFirstSlot(folder, 'postgres://gatehouse@db/failed').replace(/\.lock$/, '.jsonl');
    mkdirSync(`${first}.tmp`);
    expect(() => AuditSpool.open(folder, old, 'on')).toThrow();
    rmSync(`${first}.tmp`, { recursive: true });
    const [other] = await openInChildren(folder, old, 1);
    expect(other!.left).toEqual(['earlier']);
  }, 60_000);

  it('a spool that fails to open lets its slot go', async () => {
    const folder = mkdtempSync(join(dir, 'lock-failed-open-'));
    const first = lockOfFirstSlot(folder, 'sqlite:failed.db').replace(/\.lock$/, '.jsonl');
    // Where the fresh spool is written: a folder, so the open fails.
    mkdirSync(`${first}.tmp`);
    expect(() => AuditSpool.open(folder, 'sqlite:failed.db', 'on')).toThrow();
    rmSync(`${first}.tmp`, { recursive: true });
    const [other] = await openInChildren(folder, 'sqlite:failed.db', 1);
    expect(other!.file).toBe(first);
  }, 60_000);

  it('a lock file this version wrote does not keep a slot, even when the process it names runs (its id reused)', () => {
    const folder = mkdtempSync(join(dir, 'lock-reused-'));
    const lock = lockOfFirstSlot(folder, 'sqlite:reused.db');
    // Left by a gateway that died; the process running vitest now has that id.
    writeFileSync(lock, `${process.ppid}\n`);
    const next = AuditSpool.open(folder, 'sqlite:reused.db', 'on');
    expect(next.spool.file).toMatch(/-0\.jsonl$/);
    next.spool.close();
  });

  it("a spool whose slot a later one of the same process took over leaves that one's files at close", () => {
    const folder = mkdtempSync(join(dir, 'lock-taken-here-'));
    const first = AuditSpool.open(folder, 'sqlite:here.db', 'on');
    const second = AuditSpool.open(folder, 'sqlite:here.db', 'on');
    expect(second.spool.file).toBe(first.spool.file);
    first.spool.close();
    expect(existsSync(second.spool.file)).toBe(true);
    expect(existsSync(`${second.spool.file}.shipped`)).toBe(true);
    second.spool.close();
    expect(existsSync(second.spool.file)).toBe(false);
  });

  it('spools opened at once by several processes on one folder, over the slots of killed ones, each take a slot of their own', async () => {
    const folder = mkdtempSync(join(dir, 'lock-processes-'));
    for (let round = 0; round < 3; round++) {
      const opened = await openInChildren(folder, 'sqlite:many.db', 6);
      // Each takes the first slot no other holds: together, the first six.
      expect(opened.map((o) => Number(/-(\d+)\.jsonl$/.exec(o.file)![1])).sort()).toEqual([0, 1, 2, 3, 4, 5]);
      // Gone without closing their spools: the next round races over six slots of dead processes.
      await Promise.all(
        opened.map(({ child }) => {
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGKILL');
          return exited;
        }),
      );
    }
    expect(readdirSync(folder).filter((f) => f.endsWith('-journal'))).toEqual([]);
  }, 60_000);

  it('a spool larger than a buffer can hold, shipped to its end, lets the next gateway start', () => {
    const folder = mkdtempSync(join(dir, 'huge-'));
    const { spool } = AuditSpool.open(folder, 'postgres://db/huge', 'on');
    const file = spool.file;
    // What a killed gateway of an earlier version could leave: 2.2 GB (sparse), every byte shipped.
    const size = 2_200_000_000;
    truncateSync(file, size);
    writeFileSync(`${file}.shipped`, String(size));
    const next = AuditSpool.open(folder, 'postgres://db/huge', 'on');
    expect(next.leftovers).toEqual([]);
    next.spool.close();
  });
});

describe('records still queued when the gateway stops', () => {
  it('a record whose append to the spool failed is counted dropped at shutdown, not said to stay in the spool', async () => {
    const folder = mkdtempSync(join(dir, 'failed-append-'));
    const events: string[] = [];
    const log = openAuditLog(config('sqlite:./audit.db'), folder, {
      onEvent: (_level, message) => events.push(message),
      closeTimeoutMs: 300,
    });
    // The sink cannot take the batch before close gives up: another process holds its file's lock.
    const lock = await holdWriteLock(join(folder, 'audit.db'), 10_000);
    const append = AuditSpool.prototype.append;
    // One append fails as on a full disk; the next works again.
    AuditSpool.prototype.append = function (this: AuditSpool, record) {
      if (record.request_id === 'b')
        throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      return append.call(this, record);
    };
    try {
      lock.writing();
      for (const id of ['a', 'b', 'c']) log.write(makeRecord({ request_id: id }));
      await log.close();
    } finally {
      AuditSpool.prototype.append = append;
      await lock.end();
    }
    expect(events.filter((e) => e.includes('at shutdown'))).toEqual([
      expect.stringContaining('2 records stay in the spool'),
      expect.stringContaining('1 records dropped'),
    ]);
    expect(log.stats?.().dropped).toBe(1);
    // The next start stores the two the spool has.
    const next = openAuditLog(config('sqlite:./audit.db'), folder);
    await next.flush();
    await next.close();
    expect(await requestIds('sqlite:./audit.db', folder)).toEqual(['a', 'c']);
  });
});

// Proves that the JSON Lines log's tail reads only what follows the line it is asked after, and
// that it numbers lines exactly as a full read does (readline: `\n`, `\r\n`, a lone `\r`; blank,
// cut and foreign lines; a break split across two reads of the file), so a record keeps its id.
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { JsonlAuditSink, READ_BYTES } from '../../src/audit/jsonl-sink.js';
import { makeRecord } from './make-record.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-jsonl-tail-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The ids of the file's records as a full read numbers them: each line readline yields counts. */
async function idsByFullRead(file: string): Promise<string[]> {
  const ids: string[] = [];
  let line = 0;
  for await (const text of createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })) {
    line++;
    try {
      if (typeof (JSON.parse(text) as { ts?: unknown }).ts === 'number') ids.push(String(line));
    } catch {
      // not a record
    }
  }
  return ids;
}

const rec = (n: number) => JSON.stringify(makeRecord({ ts: 1_000 + n, tool: `t${n}` }));
/** Padding that puts a line break on either side of the boundary between two reads of the file. */
const pad = (bytes: number) => JSON.stringify({ pad: 'x'.repeat(bytes - 10) });

const FILES: Record<string, string> = {
  'plain lines': [rec(1), rec(2), rec(3)].join('\n') + '\n',
  'no break after the last line': [rec(1), rec(2), rec(3)].join('\n'),
  'CRLF breaks': [rec(1), rec(2), rec(3)].join('\r\n') + '\r\n',
  'lone CR breaks': [rec(1), rec(2), rec(3)].join('\r') + '\r',
  'blank, cut and foreign lines': ['', rec(1), '{"cut', 'not json', '', rec(2), '{}', rec(3), '{"ts":'].join('\n'),
  'CRLF split across two reads': pad(READ_BYTES - 1) + '\r\n' + rec(1) + '\r\n' + rec(2) + '\n',
  'lone CR last in a read': pad(READ_BYTES - 1) + '\r' + rec(1) + '\n' + rec(2),
  'LF first in a read': pad(READ_BYTES) + '\n' + rec(1) + '\n\n' + rec(2) + '\r\n',
  'one CRLF among LF breaks': [rec(1), rec(2), rec(3)].join('\n') + '\r\n' + [rec(4), rec(5)].join('\n') + '\n',
  'only breaks': '\n\r\n\r\n',
  empty: '',
};

describe('the JSON Lines tail', () => {
  it.each(Object.entries(FILES))('numbers the records as a full read does: %s', async (name, text) => {
    const file = join(dir, `${name.replace(/\W+/g, '-')}.jsonl`);
    writeFileSync(file, text);
    const sink = new JsonlAuditSink(file);
    const ids = await idsByFullRead(file);
    expect(await sink.lastId()).toBe(ids.at(-1));
    const lines = text.split(/\r\n|\n|\r/).length + 2;
    for (let after = 0; after <= lines; after++) {
      const got = (await sink.after(after === 0 ? undefined : String(after), {}, 1_000)).map((r) => r.id);
      expect(got, `after ${after}`).toEqual(ids.filter((id) => Number(id) > after));
    }
    expect((await sink.after('abc', {}, 1_000)).map((r) => r.id)).toEqual(ids.filter((id) => id.length > 3));
  });

  it('has no records in a file that is not there', async () => {
    const sink = new JsonlAuditSink(join(dir, 'missing.jsonl'));
    expect(await sink.lastId()).toBeUndefined();
    expect(await sink.after('5', {}, 10)).toEqual([]);
    expect(await sink.after(undefined, {}, 10)).toEqual([]);
  });

  it('finds the last record behind more than a few lines that are not records', async () => {
    const file = join(dir, 'trailing-garbage.jsonl');
    writeFileSync(file, [rec(1), rec(2), ...Array.from({ length: 40 }, () => 'garbage')].join('\n') + '\n');
    expect(await new JsonlAuditSink(file).lastId()).toBe('2');
  });

  it('parses only the lines after the one it is asked after', async () => {
    const file = join(dir, 'skipped.jsonl');
    writeFileSync(file, Array.from({ length: 1_000 }, (_, i) => rec(i)).join('\n') + '\n');
    const sink = new JsonlAuditSink(file);
    const parse = vi.spyOn(JSON, 'parse');
    try {
      expect((await sink.after('997', {}, 10)).map((r) => r.id)).toEqual(['998', '999', '1000']);
      expect(parse).toHaveBeenCalledTimes(3);
      parse.mockClear();
      expect(await sink.lastId()).toBe('1000');
      expect(parse.mock.calls.length).toBeLessThanOrEqual(16);
    } finally {
      parse.mockRestore();
    }
  });
});

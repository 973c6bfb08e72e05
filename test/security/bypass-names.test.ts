// Proves that no spelling of a tool name gets a call past the policy, on every downstream
// (Streamable HTTP /mcp/fs and the /mcp aggregate in both eras, legacy HTTP+SSE, `gatehouse stdio`
// in both eras): names differing by case, Cyrillic look-alikes, zero-width characters, trailing
// spaces, percent-encoding, non-string names, a hidden tool called directly, a denied tool, a
// tool whose definition changed since it was pinned; and that arguments meant to make a CEL
// condition error or overflow (huge numbers, 1e309, NaN-like strings, 10,000 levels of nesting)
// block the call. The recording upstream proves it: every tools/call it ever received names an
// allowed tool with arguments the policy allows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isBlocked,
  received,
  receivedCalls,
  startHarnessEverywhere,
  textOf,
  toolCall,
  type Harness,
  type RawDriver,
} from './support.js';

const ATTACK_NAMES: { name: unknown; why: string }[] = [
  { name: 'DELETE_FILE', why: 'upper case' },
  { name: 'Delete_File', why: 'mixed case' },
  { name: 'Read_File', why: 'a real case twin no rule allows' },
  { name: 'dеlete_file', why: 'Cyrillic е' },
  { name: 'rеad_file', why: 'Cyrillic е in an allowed name' },
  { name: 'delete\u200b_file', why: 'zero-width space' },
  { name: '\ufeffdelete_file', why: 'byte-order mark' },
  { name: 'delete_file ', why: 'trailing space' },
  { name: ' delete_file', why: 'leading space' },
  { name: 'delete%5Ffile', why: 'percent-encoded underscore' },
  { name: 'delete_file\u0000', why: 'NUL byte' },
  { name: 'secret_tool', why: 'hidden tool called directly' },
  { name: 'SECRET_TOOL', why: 'hidden tool, upper case' },
  { name: 'delete_file', why: 'denied tool' },
  { name: ['delete_file'], why: 'name as an array (String() would make it the denied name)' },
  { name: { toString: 'delete_file' }, why: 'name as an object' },
  { name: 42, why: 'name as a number' },
  { name: null, why: 'name null' },
];

describe('tool names and arguments that try to slip past the policy', () => {
  let h: Harness;
  let drivers: RawDriver[];
  let close: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    ({ h, drivers, close } = await startHarnessEverywhere());
  }, 120_000);
  afterAll(() => close?.());

  it('the harness works: an allowed call through every downstream reaches the upstream (the baseline every block is measured against)', async () => {
    for (const d of drivers) {
      const a = await d.request(toolCall(d.era, `ok-${d.kind}-${d.era}`, d.shown('read_file'), { path: '/public/a' }));
      expect(isBlocked(a), `${d.title}: ${JSON.stringify(a)}`).toBe(false);
      expect(textOf(a)).toBe('read_file {"path":"/public/a"}');
    }
  });

  it('tool directory and policy matching: every odd spelling of a name is blocked on every downstream, and the aggregate rejects it like a missing tool', async () => {
    let n = 0;
    for (const d of drivers) {
      for (const attack of ATTACK_NAMES) {
        const name = typeof attack.name === 'string' ? d.shown(attack.name) : attack.name;
        const a = await d.request(toolCall(d.era, `name-${n++}`, name, { path: '/etc/passwd' }));
        expect(isBlocked(a), `${d.title}, ${attack.why}: ${JSON.stringify(a)}`).toBe(true);
      }
    }
  });

  it('exact-name decision: the hidden tool answers -32602 Unknown tool exactly like a missing one', async () => {
    for (const d of drivers) {
      const hidden = await d.request(toolCall(d.era, `hid-${d.kind}-${d.era}`, d.shown('secret_tool')));
      const missing = await d.request(toolCall(d.era, `mis-${d.kind}-${d.era}`, d.shown('no_such_tool')));
      expect(hidden['error']).toEqual({ code: -32602, message: `Unknown tool: ${d.shown('secret_tool')}` });
      expect(missing['error']).toEqual({ code: -32602, message: `Unknown tool: ${d.shown('no_such_tool')}` });
    }
  });

  it('exact-name decision: the hidden tool costs the upstream the same reads of its tool list as a missing one, so its answer comes no sooner', async () => {
    const listReads = () => received(h.records.fs).filter((m) => m['method'] === 'tools/list').length;
    for (const d of drivers) {
      const reads: Record<string, number> = {};
      for (const tool of ['secret_tool', 'no_such_tool', 'secret_tool', 'no_such_tool']) {
        const before = listReads();
        const a = await d.request(toolCall(d.era, `reads-${tool}-${d.kind}-${d.era}-${before}`, d.shown(tool)));
        expect(a['error'], `${d.title}: ${JSON.stringify(a)}`).toMatchObject({ code: -32602 });
        reads[tool] = (reads[tool] ?? 0) + listReads() - before;
      }
      expect(reads['secret_tool'], `${d.title}: ${JSON.stringify(reads)}`).toBe(reads['no_such_tool']);
      expect(reads['no_such_tool'], d.title).toBeGreaterThan(0);
    }
  });

  it('CEL fail-closed and the out-of-range check: arguments that make a condition error, overflow or nest deeply block the call, and -1e309 is refused before it could be decided as -Infinity and forwarded as null', async () => {
    const deep = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
    const bodies: { args: string; why: string }[] = [
      { args: '{"path": 12}', why: 'path not a string (startsWith errors)' },
      { args: '{}', why: 'path missing' },
      { args: '{"path": null}', why: 'path null' },
      { args: '{"path": "/public/../etc/passwd"}', why: 'traversal still matches the prefix' },
      { args: `{"path": "/etc/x", "deep": ${deep}}`, why: '10,000 levels of nesting' },
    ];
    let n = 0;
    for (const d of drivers) {
      for (const b of bodies) {
        const id = `cel-${n++}`;
        const like = toolCall(d.era, id, d.shown('read_file'), '__ARGS__');
        const a = await d.request(JSON.stringify(like).replace('"__ARGS__"', b.args), {}, like);
        // The traversal case is allowed by this policy (it starts with /public/): what matters is
        // that the upstream then receives exactly what was decided, checked below for every call.
        if (b.why.startsWith('traversal')) continue;
        expect(isBlocked(a), `${d.title}, ${b.why}: ${JSON.stringify(a).slice(0, 300)}`).toBe(true);
      }
      for (const size of ['1e309', '-1e309', '1e300', '"NaN"', '"Infinity"', '"1e309"', '9007199254740993', '[101]']) {
        const id = `num-${n++}`;
        const like = toolCall(d.era, id, d.shown('write_note'), '__ARGS__');
        const text = JSON.stringify(like).replace('"__ARGS__"', `{"text": "hi", "size": ${size}}`);
        const a = await d.request(text, {}, like);
        // -1e309 parses as -Infinity, which the conditions allow but which re-serialises as null:
        // the message is refused before the decision, so nothing undecided can be forwarded.
        if (!isBlocked(a)) expect.fail(`${d.title}: size ${size} was allowed: ${JSON.stringify(a)}`);
        if (size === '-1e309') expect(JSON.stringify(a)).toMatch(/out of range/);
      }
    }
  }, 120_000);

  it('arguments that are not an object (a list, a string, a number) are refused -32602 before any decision, on every downstream, so an approval or a condition never sees them as {}', async () => {
    let n = 0;
    for (const d of drivers) {
      for (const args of ['["--force"]', '"--force"', '42']) {
        const like = toolCall(d.era, `args-${n++}`, d.shown('mutate'), '__ARGS__');
        const a = await d.request(JSON.stringify(like).replace('"__ARGS__"', args), {}, like);
        expect(a['error'], `${d.title}, ${args}: ${JSON.stringify(a)}`).toMatchObject({
          code: -32602,
          message: 'tools/call needs "arguments" as an object.',
        });
      }
    }
  });

  it('definition pins: a tool whose definition changed since it was pinned is blocked when called directly, on every downstream', async () => {
    // Pin write_note by listing it once, then have the server change it under its clients.
    for (const d of drivers) {
      const a = await d.request(
        toolCall(d.era, `pin-ok-${d.kind}-${d.era}`, d.shown('write_note'), { text: 'x', size: 1 }),
      );
      expect(isBlocked(a), JSON.stringify(a)).toBe(false);
    }
    // `gatehouse stdio` runs its own upstream child: it is changed through each stdio client.
    for (const d of [drivers[0]!, ...drivers.filter((x) => x.kind === 'stdio')]) {
      const mutated = await d.request(toolCall(d.era, `mutate-${d.kind}-${d.era}`, 'mutate'));
      expect(textOf(mutated)).toBe('mutated');
    }
    // The directory refreshes on list_changed; every downstream must then refuse the changed tool.
    let n = 0;
    for (const d of drivers) {
      let answer: Record<string, unknown> = {};
      for (let attempt = 0; attempt < 50; attempt++) {
        answer = await d.request(toolCall(d.era, `pin-${n++}`, d.shown('write_note'), { text: 'x', size: 1 }));
        if (isBlocked(answer)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(textOf(answer), d.title).toMatch(
        /^\[POLICY DENIED\] definition of .*write_note changed since it was pinned/,
      );
    }
  }, 60_000);

  it('what reached the upstream: only allowed tools, with arguments the policy allows, exactly as decided', () => {
    const calls = receivedCalls(h.records.fs);
    expect(calls.length).toBeGreaterThan(0);
    for (const c of calls) {
      expect(['read_file', 'write_note', 'mutate']).toContain(c.name);
      if (c.arguments !== undefined) expect(c.arguments).toBeTypeOf('object');
      expect(Array.isArray(c.arguments)).toBe(false);
      const args = (c.arguments ?? {}) as Record<string, unknown>;
      if (c.name === 'read_file') expect(String(args['path'])).toMatch(/^\/public\//);
      if (c.name === 'write_note') expect(args['size']).toBeTypeOf('number');
      if (c.name === 'write_note') expect(args['size'] as number).toBeLessThanOrEqual(100);
    }
    expect(receivedCalls(h.records['my-srv'])).toEqual([]);
  });
});

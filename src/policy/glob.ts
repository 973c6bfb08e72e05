// Tool, resource and prompt name patterns: `*`, `?`, `[abc]`, `{a,b}`. picomatch is the
// well-kept matcher for exactly this syntax; patterns compile once at load.
import picomatch from 'picomatch';
import { GLOB_CHARS, literalName } from './literal-name.js';

export interface Glob {
  pattern: string;
  /** Characters that are not glob syntax: the more, the more specific the pattern. */
  literal: number;
  test(name: string): boolean;
}

/**
 * `windows: false` spelled out: names are not file paths, and a policy means the same on every
 * platform (picomatch's own matcher would switch to Windows path rules there).
 */
const OPTIONS = { dot: true, nobrace: false, noextglob: true, windows: false } as const;

/**
 * picomatch reads `/` as a path separator that `*` and `?` never cross. A policy's names are not
 * paths: `"*"` hides every tool, `files/delete_all` included, and `file:///srv/secret/*` covers
 * what lies below that folder too. So every `/`, in the pattern and in the name, is matched as this
 * character, which means nothing to picomatch.
 */
const SLASH = '\uE000';

function unslashed(s: string): string {
  return s.includes('/') ? s.replaceAll('/', SLASH) : s;
}

/**
 * Characters that always stand for themselves in a pattern. The literal prefix and suffix a name
 * is checked against stop at anything else: glob syntax, escapes, groups, and `.`, which picomatch
 * treats specially in places (a leading `./` is dropped).
 */
const PLAIN = /[A-Za-z0-9_\- /]/;

/**
 * Patterns made only of these characters have no syntax that matches across the pattern as a
 * whole (a leading `!` negates, a `|` outside a group alternates), so a match always starts with
 * the pattern's plain prefix and ends with its plain suffix. Other patterns skip the prefilter.
 */
const PREFILTERABLE = /^[A-Za-z0-9_\- *?[\]{},.:/]*$/;

export function isGlob(pattern: string): boolean {
  return GLOB_CHARS.test(pattern);
}

export function compileGlob(pattern: string): Glob {
  // A name escaped whole (literal-name.ts) matches that name alone. Compared as strings: picomatch
  // reads some escapes otherwise (`x\\\*` as `x` then anything), and takes a name equal to the
  // pattern's own text (`\*`) as a match too.
  const name = GLOB_CHARS.test(pattern) ? literalName(pattern) : undefined;
  if (name !== undefined && name !== pattern) return { pattern, literal: [...name].length, test: (n) => n === name };
  let literal = 0;
  let depth = 0;
  for (const c of pattern) {
    if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth = Math.max(0, depth - 1);
    else if (depth === 0 && c !== '*' && c !== '?') literal++;
  }
  return { pattern, literal, test: compileTest(pattern) };
}

/**
 * The same answer as picomatch's matcher, cheaper: picomatch's matcher builds two result objects
 * on every test, while this tests the bare regular expression (compiled once), and most names
 * are turned away by a string comparison before the expression runs. That matters for names the
 * engine has not seen before, each of which is tested against every glob of a table.
 */
function compileTest(pattern: string): (name: string) => boolean {
  const re = picomatch.makeRe(unslashed(pattern), OPTIONS);
  if (!PREFILTERABLE.test(pattern)) return (name) => name !== '' && (name === pattern || re.test(unslashed(name)));
  let p = 0;
  while (p < pattern.length && PLAIN.test(pattern[p]!)) p++;
  let s = pattern.length;
  while (s > p && PLAIN.test(pattern[s - 1]!)) s--;
  const prefix = pattern.slice(0, p);
  const suffix = pattern.slice(s);
  // picomatch answers true for a name equal to the pattern before it runs the expression, and
  // false for the empty name; both are kept so that the answers stay exactly the same.
  if (prefix === '' && suffix === '') return (name) => name !== '' && (name === pattern || re.test(unslashed(name)));
  return (name) =>
    name !== '' && (name === pattern || (name.startsWith(prefix) && name.endsWith(suffix) && re.test(unslashed(name))));
}

// Tool, resource and prompt name patterns: `*`, `?`, `[abc]`, `{a,b}`. picomatch is the
// well-kept matcher for exactly this syntax; patterns compile once at load.
import picomatch from 'picomatch';

export interface Glob {
  pattern: string;
  /** Characters that are not glob syntax: the more, the more specific the pattern. */
  literal: number;
  test(name: string): boolean;
}

const GLOB_CHARS = /[*?[\]{}!\\]/;

export function isGlob(pattern: string): boolean {
  return GLOB_CHARS.test(pattern);
}

export function compileGlob(pattern: string): Glob {
  const matcher = picomatch(pattern, { dot: true, nobrace: false, noextglob: true });
  let literal = 0;
  let depth = 0;
  for (const c of pattern) {
    if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth = Math.max(0, depth - 1);
    else if (depth === 0 && c !== '*' && c !== '?') literal++;
  }
  return { pattern, literal, test: (name) => matcher(name) };
}

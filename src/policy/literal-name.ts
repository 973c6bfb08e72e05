// A tool's, prompt's or resource's name written as a policy key that matches that name alone.
// A key holding glob syntax is a pattern (glob.ts), and the names a policy is written from come from
// upstream servers: a tool an upstream calls `*`, written as it is by the suggested policy or the
// dashboard's builder, would become a rule for every tool, including those the server adds later.
// Escaped, each special character stands for itself. No dependency, so the dashboard uses it too.

/** Characters that make a `tools`, `resources` or `prompts` key a pattern. */
export const GLOB_CHARS = /[*?[\]{}!\\]/;

/**
 * Characters the matcher reads as syntax in a pattern: the glob characters, and the groups and
 * alternatives a `hide` entry (always a pattern) understands (`x(y)` hides `xy`).
 */
const SYNTAX = /[*?[\]{}!\\()|+@]/;

/** Characters that stand for themselves in any pattern; every other one is escaped. */
const PLAIN = /[A-Za-z0-9_-]/u;

/** The key that matches `name` alone: the name itself, or escaped when it holds pattern syntax. */
export function literalPattern(name: string): string {
  if (!SYNTAX.test(name)) return name;
  let out = '';
  for (const c of name) out += PLAIN.test(c) ? c : `\\${c}`;
  return out;
}

/** The name a key matches alone, when it was written by literalPattern; undefined for a pattern. */
export function literalName(key: string): string | undefined {
  if (!GLOB_CHARS.test(key)) return key;
  let name = '';
  const chars = [...key];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c !== '\\') {
      if (!PLAIN.test(c)) return undefined;
      name += c;
      continue;
    }
    const next = chars[++i];
    if (next === undefined) return undefined;
    name += next;
  }
  return literalPattern(name) === key ? name : undefined;
}

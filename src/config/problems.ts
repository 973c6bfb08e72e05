// Validation problems as users read them: a JSON pointer into their file and a sentence that says
// what is wrong and what would be right. Zod's issues are turned into problems here, once, for both
// the gateway config and the policy file, so that every command reports them the same way.
import type { z } from 'zod';
import { pointerToken } from '../util/json-pointer.js';

export interface Problem {
  /** JSON pointer (RFC 6901) into the checked document; '' is the document itself. */
  path: string;
  message: string;
}

type Segment = PropertyKey;
type Issue = z.core.$ZodIssue;
type RawIssue = z.core.$ZodRawIssue;

export function toPointer(path: readonly Segment[]): string {
  return path.map((segment) => `/${pointerToken(String(segment))}`).join('');
}

/** How a problem's path is shown to a person: the pointer, or "(top level)" for the document itself. */
export function displayPath(pointer: string): string {
  return pointer === '' ? '(top level)' : pointer;
}

/** Indented "  /path: message" lines, the one layout every command prints problems in. */
export function formatProblemLines(problems: readonly Problem[], indent = '  '): string {
  return problems.map((p) => `${indent}${displayPath(p.path)}: ${p.message}`).join('\n');
}

/**
 * Messages for the issues people meet most, passed to every safeParse of our schemas. Zod calls it
 * only where a schema has no message of its own.
 */
export const errorMap: z.core.$ZodErrorMap = (issue: RawIssue) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'required';
      return `expected ${withArticle(issue.expected)}, got ${describeValue(issue.input)}`;
    case 'invalid_value':
      if (issue.input === undefined) return 'required';
      return issue.values.length === 1
        ? `expected ${JSON.stringify(issue.values[0])}, got ${describeValue(issue.input)}`
        : `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}; got ${describeValue(issue.input)}`;
    case 'unrecognized_keys':
      return unknownKeysMessage(issue.keys, knownKeysOf(issue.inst));
    case 'too_small':
      if (issue.origin === 'string') return 'must not be empty';
      if (issue.origin === 'array') return `needs at least ${issue.minimum} item${issue.minimum === 1 ? '' : 's'}`;
      return `must be ${issue.inclusive ? 'at least' : 'greater than'} ${issue.minimum}`;
    case 'too_big':
      if (issue.origin === 'string') return `must be at most ${issue.maximum} characters`;
      return `must be ${issue.inclusive ? 'at most' : 'less than'} ${issue.maximum}`;
    default:
      return undefined;
  }
};

/**
 * A schema's own message for a value that is present but wrong; a missing value is simply "required".
 * (A schema's own message outranks the error map, so it has to say this itself.)
 */
export function unlessMissing(message: string): (issue: RawIssue) => string {
  return (issue) => (issue.input === undefined ? 'required' : message);
}

/** Flattens zod issues into problems, one per thing to fix; `prefix` places them inside a larger document. */
export function problemsFromIssues(issues: readonly Issue[], prefix: readonly Segment[] = []): Problem[] {
  return issues.flatMap((issue) => flattenIssue(issue, [...prefix, ...issue.path]));
}

function flattenIssue(issue: Issue, path: Segment[]): Problem[] {
  switch (issue.code) {
    case 'unrecognized_keys':
      // One unknown key is reported at its own path, which is where the user has to look.
      return issue.keys.length === 1
        ? [{ path: toPointer([...path, issue.keys[0]!]), message: issue.message }]
        : [{ path: toPointer(path), message: issue.message }];
    case 'invalid_key':
      return [{ path: toPointer(path), message: issue.issues.map((i) => i.message).join('; ') }];
    case 'invalid_union': {
      // A union fails as a whole; the useful report is the one branch whose type the value had
      // (an inline policy object, not the "path" string it could also have been).
      const matching = issue.errors.filter((branch) => !branch.every(isTypeMismatchHere));
      if (matching.length === 1) return problemsFromIssues(matching[0]!, path);
      return [{ path: toPointer(path), message: issue.message }];
    }
    default:
      return [{ path: toPointer(path), message: issue.message }];
  }
}

/** An issue that says only "this value is not of that branch's kind" (wrong type, value or format). */
function isTypeMismatchHere(issue: Issue): boolean {
  return issue.path.length === 0 && MISMATCH_CODES.has(issue.code);
}
const MISMATCH_CODES = new Set<string>(['invalid_type', 'invalid_value', 'invalid_format', 'invalid_union']);

function knownKeysOf(inst: unknown): string[] {
  const shape = (inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def?.shape;
  return shape ? Object.keys(shape) : [];
}

function unknownKeysMessage(keys: readonly string[], known: readonly string[]): string {
  const allowed = known.length > 0 ? `allowed keys: ${known.join(', ')}` : 'no other keys are allowed here';
  if (keys.length !== 1) return `unknown keys ${keys.map((k) => `"${k}"`).join(', ')}; ${allowed}`;
  const guess = closest(keys[0]!, known);
  return guess ? `unknown key; did you mean "${guess}"?` : `unknown key; ${allowed}`;
}

/** The known key a typo most likely meant, if one is close enough to be worth suggesting. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length]!;
}

function withArticle(expected: string): string {
  const names: Record<string, string> = { int: 'a whole number', nonoptional: 'a value', record: 'an object' };
  return names[expected] ?? (/^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`);
}

export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return value.length > 40 ? 'a string' : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return withArticle(typeof value);
}

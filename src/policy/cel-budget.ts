// What one CEL evaluation may cost. cel-js evaluates comprehensions (`all`, `exists`,
// `exists_one`, `map`, `filter`) without any limit, so nested ones over an agent's lists cost the
// square or the cube of their length (three nested over 400 items held the gateway for minutes),
// and its `matches` runs a backtracking RegExp, which a pattern like `^(a+)+$` turns exponential
// in the length of the agent's string. `boundCost` changes a parsed and checked expression in
// place so that:
//
// - every comprehension step checks a deadline, and once it has passed the evaluation stops with
//   an error (and the caller blocks the call). Between two checks runs one step, which is linear
//   in the size of the arguments, so an evaluation ends soon after its deadline;
// - `matches` runs RE2 (re2js): linear in the text, and the syntax the CEL specification names
//   for `matches` (so `(?i)` works). A literal pattern RE2 refuses is a load error.
//
// Both reach into cel-js's checked AST: a comprehension's `args.condition`, which its loop calls
// before each step, and a call's `handle`. `boundCost` fails (and the policy with it) when the
// AST no longer has that shape, so a cel-js upgrade cannot quietly take the bound away;
// test/policy/cel-budget.test.ts proves the bound holds.
import { createRequire } from 'node:module';
import type { RE2JS } from 're2js';

// Loaded on first use: a policy without `matches` never pays re2js's start-up time or memory.
let RE2: typeof RE2JS | undefined;
function re2(): typeof RE2JS {
  RE2 ??= (createRequire(import.meta.url)('re2js') as { RE2JS: typeof RE2JS }).RE2JS;
  return RE2;
}

/** How long one evaluation may run its comprehensions, in milliseconds. */
export const CEL_BUDGET_MS = 50;

/** The end of the running evaluation's time, or Infinity outside one. */
let deadline = Infinity;
/** Whether the running evaluation passed its deadline (an error CEL might otherwise absorb). */
let spent = false;

export const BUDGET_ERROR = `stopped after ${CEL_BUDGET_MS} ms: too costly for this call's arguments`;

function step(): void {
  if (performance.now() > deadline) {
    spent = true;
    throw new Error(BUDGET_ERROR);
  }
}

/**
 * Runs one evaluation under the deadline. A run that passed it is an error, even where CEL would
 * have absorbed the error (`costly || true`): the call is blocked rather than decided on a partial
 * evaluation.
 */
export function withinBudget<T>(run: () => T): { ok: true; value: T } | { ok: false; error: string } {
  deadline = performance.now() + CEL_BUDGET_MS;
  spent = false;
  try {
    const value = run();
    return spent ? { ok: false, error: BUDGET_ERROR } : { ok: true, value };
  } catch (err) {
    return { ok: false, error: spent ? BUDGET_ERROR : firstLine(err) };
  } finally {
    deadline = Infinity;
    spent = false;
  }
}

/** The first line of an error's message: cel-js's messages go on with a picture of the source. */
export function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}

/** The parts of cel-js's checked AST node read and changed here (see @marcbachmann/cel-js). */
interface Node {
  op: string;
  args: unknown;
  meta?: { alternate?: Node };
  handle?: (...a: unknown[]) => unknown;
}

interface ComprehensionArgs {
  iterable: Node;
  step: Node;
  condition?: (accu: unknown) => boolean;
}

export class CelCostError extends Error {}

/**
 * Bounds a checked expression's comprehensions and `matches` calls (see the top of this file).
 * Answers whether it has comprehensions, the only part that needs `withinBudget`. Throws
 * CelCostError for a literal pattern RE2 refuses, or an AST it cannot bound.
 */
export function boundCost(ast: unknown): { comprehensions: boolean } {
  let comprehensions = false;
  const seen = new Set<Node>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const v of value) visit(v);
      return;
    }
    if (!isNode(value) || seen.has(value)) return;
    seen.add(value);
    if (value.op === 'comprehension') {
      boundComprehension(value);
      comprehensions = true;
    } else if (
      (value.op === 'rcall' || value.op === 'call') &&
      value.args &&
      (value.args as unknown[])[0] === 'matches'
    ) {
      boundMatches(value);
    }
    if (value.meta?.alternate) visit(value.meta.alternate);
    const args = value.args;
    if (Array.isArray(args)) visit(args);
    else if (isNode(args)) visit(args);
    else if (args && typeof args === 'object') for (const v of Object.values(args)) visit(v);
  };
  visit(ast);
  return { comprehensions };
}

function isNode(x: unknown): x is Node {
  return typeof x === 'object' && x !== null && typeof (x as Node).op === 'string' && 'args' in x;
}

function boundComprehension(node: Node): void {
  const args = node.args as ComprehensionArgs | undefined;
  if (!args || typeof args !== 'object' || !isNode(args.step) || !isNode(args.iterable))
    throw new CelCostError('this version of cel-js evaluates comprehensions in a way Gatehouse cannot bound');
  const condition = args.condition;
  if (condition !== undefined && typeof condition !== 'function')
    throw new CelCostError('this version of cel-js evaluates comprehensions in a way Gatehouse cannot bound');
  args.condition = condition
    ? (accu) => {
        step();
        return condition(accu);
      }
    : () => {
        step();
        return true;
      };
}

/** The most characters times RE2 instructions one `matches` may cost. */
export const MAX_MATCH_COST = 100_000_000;

/** RE2 programs by pattern; cleared when full, so agents' patterns cannot grow it. */
const programs = new Map<string, RE2JS>();
const MAX_PROGRAMS = 256;

function program(pattern: string): RE2JS {
  let p = programs.get(pattern);
  if (!p) {
    p = re2().compile(pattern);
    if (programs.size >= MAX_PROGRAMS) programs.clear();
    programs.set(pattern, p);
  }
  return p;
}

function boundMatches(node: Node): void {
  const original = node.handle;
  if (typeof original !== 'function')
    throw new CelCostError('this version of cel-js calls matches() in a way Gatehouse cannot bound');
  // The pattern, when it is a literal: checked now, so a pattern RE2 refuses fails at load.
  const args = node.args as unknown[];
  const patternNode = (node.op === 'rcall' ? (args[2] as unknown[])?.[0] : (args[1] as unknown[])?.[1]) as
    Node | undefined;
  if (patternNode?.op === 'value' && typeof patternNode.args === 'string') {
    try {
      program(patternNode.args);
    } catch (err) {
      throw new CelCostError(`matches(): invalid RE2 pattern ${JSON.stringify(patternNode.args)}: ${firstLine(err)}`);
    }
  }
  // Both forms, `s.matches(p)` and `matches(s, p)`, hand the handle [s, p] first. Anything but
  // two strings goes to cel-js, which reports the type error.
  node.handle = function (this: unknown, ...a: unknown[]): unknown {
    const values = a[0];
    if (Array.isArray(values) && typeof values[0] === 'string' && typeof values[1] === 'string') {
      let p: RE2JS;
      try {
        p = program(values[1]);
      } catch (err) {
        throw new Error(`matches(): invalid RE2 pattern: ${firstLine(err)}`);
      }
      // Linear, but in the text's length times the program's size: bounded so that no pattern
      // and text hold the gateway for long (about a second at the bound; typical conditions are
      // thousands of times below it).
      if (values[0].length * p.programSize() > MAX_MATCH_COST)
        throw new Error(
          `matches(): a pattern of ${p.programSize()} RE2 instructions over ${values[0].length} characters is too costly (their product may be at most ${MAX_MATCH_COST.toLocaleString('en')})`,
        );
      return p.matcher(values[0]).find();
    }
    return original.apply(this, a);
  };
}

// What one CEL evaluation may cost. cel-js evaluates comprehensions (`all`, `exists`,
// `exists_one`, `map`, `filter`) without any limit, so nested ones over an agent's lists cost the
// square or the cube of their length (three nested over 400 items held the gateway for minutes),
// and its `matches` runs a backtracking RegExp, which a pattern like `^(a+)+$` turns exponential
// in the length of the agent's string. `boundCost` changes a parsed and checked expression in
// place so that:
//
// - every comprehension step, and every `matches`, checks a deadline, and once it has passed the
//   evaluation stops with an error (and the caller blocks the call). Between two checks runs one
//   step or one match, so an evaluation ends soon after its deadline;
// - a `matches` with the operator's literal pattern runs on V8's backtracking engine, and one that
//   backtracks excessively goes on in V8's linear-time engine (the flag set below), with the same
//   JavaScript semantics. A pattern that comes from the call's data runs only in the linear-time
//   engine, which refuses back-references, lookarounds and large counted repetitions, and only
//   over a text whose length times the pattern's is bounded (V8's fallback does not count the
//   backtracking of every shape, and the caller chose this pattern).
//
// Both reach into cel-js's checked AST: a comprehension's `args.condition`, which its loop calls
// before each step, and a call's `handle`. `boundCost` fails (and the policy with it) when the
// AST no longer has that shape, so a cel-js upgrade cannot quietly take the bound away;
// test/policy/cel-budget.test.ts proves the bound holds.
import v8 from 'node:v8';

// V8 counts a match's backtracks and, past 50,000, runs it again in its linear-time engine; the
// second flag lets a pattern be compiled for that engine alone (RegExp flag `l`).
// Both only change how a regular expression runs, never what it matches.
v8.setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
v8.setFlagsFromString('--enable-experimental-regexp-engine');

/** How long one evaluation may run its comprehensions and matches, in milliseconds. */
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
 * The deadline of each call's variables: the conditions a decision evaluates on one call's
 * variables share one budget, started by the first of them that is timed, so that a policy with
 * many costly conditions costs a call 50 ms, not 50 ms each. Weak: it goes with the call.
 */
const deadlines = new WeakMap<object, number>();

/**
 * Runs one evaluation under the deadline of `scope` (a call's variables). A run that passed it is
 * an error, even where CEL would have absorbed the error (`costly || true`): the call is blocked
 * rather than decided on a partial evaluation.
 */
export function withinBudget<T>(run: () => T, scope: object): { ok: true; value: T } | { ok: false; error: string } {
  let end = deadlines.get(scope);
  if (end === undefined) {
    end = performance.now() + CEL_BUDGET_MS;
    deadlines.set(scope, end);
  }
  deadline = end;
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
 * Answers whether it has either, the only parts that need `withinBudget`. Throws CelCostError for
 * an invalid literal pattern, or an AST it cannot bound.
 */
export function boundCost(ast: unknown): { timed: boolean } {
  let timed = false;
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
      timed = true;
    } else if (
      (value.op === 'rcall' || value.op === 'call') &&
      value.args &&
      (value.args as unknown[])[0] === 'matches'
    ) {
      boundMatches(value);
      timed = true;
    }
    if (value.meta?.alternate) visit(value.meta.alternate);
    const args = value.args;
    if (Array.isArray(args) || isNode(args)) visit(args);
    else if (args && typeof args === 'object') for (const v of Object.values(args)) visit(v);
  };
  visit(ast);
  return { timed };
}

function isNode(x: unknown): x is Node {
  return typeof x === 'object' && x !== null && typeof (x as Node).op === 'string' && 'args' in x;
}

function boundComprehension(node: Node): void {
  const args = node.args as ComprehensionArgs | undefined;
  const condition = args?.condition;
  if (
    !args ||
    typeof args !== 'object' ||
    !isNode(args.step) ||
    !isNode(args.iterable) ||
    (condition !== undefined && typeof condition !== 'function')
  )
    throw new CelCostError('this version of cel-js evaluates comprehensions in a way Gatehouse cannot bound');
  // Called before each step; `map` and `filter` have no condition of their own.
  args.condition = (accu) => {
    step();
    return condition ? condition(accu) : true;
  };
}

/**
 * The most a match with a pattern from the call may cost: its text's length times the pattern's.
 * V8's linear-time engine takes about 60 ns a unit at worst, so about 60 ms here.
 */
export const MAX_DATA_PATTERN_COST = 1_000_000;

/** Linear-time programs of patterns from calls' data, by pattern; cleared when full. */
const linearPrograms = new Map<string, RegExp>();
const MAX_LINEAR_PROGRAMS = 256;

/**
 * `pattern` compiled for V8's linear-time engine (RegExp flag `l`), which refuses what could need
 * backtracking; the same JavaScript semantics as cel-js's own `new RegExp(pattern)`.
 */
function linearProgram(pattern: string): RegExp {
  let re = linearPrograms.get(pattern);
  if (!re) {
    try {
      re = new RegExp(pattern, 'l');
    } catch (err) {
      throw new Error(
        /linear/i.test(firstLine(err))
          ? 'matches(): a pattern from the call that could backtrack for ever (back-references, lookarounds or large counted repetitions) is refused'
          : `matches(): ${firstLine(err)}`,
      );
    }
    if (linearPrograms.size >= MAX_LINEAR_PROGRAMS) linearPrograms.clear();
    linearPrograms.set(pattern, re);
  }
  return re;
}

function boundMatches(node: Node): void {
  const original = node.handle;
  if (typeof original !== 'function')
    throw new CelCostError('this version of cel-js calls matches() in a way Gatehouse cannot bound');
  // The pattern, when it is a literal: checked now, so an invalid one fails at load rather than
  // blocking every call.
  const args = node.args as unknown[];
  const patternNode = (node.op === 'rcall' ? (args[2] as unknown[])?.[0] : (args[1] as unknown[])?.[1]) as
    Node | undefined;
  const literal = patternNode?.op === 'value' && typeof patternNode.args === 'string' ? patternNode.args : undefined;
  if (literal !== undefined) {
    try {
      new RegExp(literal);
    } catch (err) {
      throw new CelCostError(`matches(): invalid regular expression ${JSON.stringify(literal)}: ${firstLine(err)}`);
    }
  }
  // Both forms, `s.matches(p)` and `matches(s, p)`, hand the handle [s, p] first; cel-js itself
  // matches (and reports anything but two strings).
  node.handle = function (this: unknown, ...a: unknown[]): unknown {
    const values = a[0];
    const [text, pattern] = Array.isArray(values) ? (values as unknown[]) : [];
    let matched: unknown;
    if (typeof text === 'string' && typeof pattern === 'string' && pattern !== literal) {
      // A pattern from the call runs only in the linear-time engine: V8's fallback does not count
      // the backtracking of every shape (`a?a?…aa…`), and the caller chose this one.
      if (text.length * pattern.length > MAX_DATA_PATTERN_COST)
        throw new Error(
          `matches(): a pattern from the call of ${pattern.length} characters over ${text.length} is too costly (their product may be at most ${MAX_DATA_PATTERN_COST.toLocaleString('en')})`,
        );
      matched = linearProgram(pattern).test(text);
    } else matched = original.apply(this, a);
    step();
    return matched;
  };
}

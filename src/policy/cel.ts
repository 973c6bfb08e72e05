// CEL conditions: compiled once when the policy loads, evaluated per call. A condition that
// fails at run time is reported, and the caller blocks the call (fail closed).
import { Environment } from '@marcbachmann/cel-js';
import { boundCost, CelCostError, firstLine, withinBudget } from './cel-budget.js';
import { compileFast, UNDECIDED, type FastEval, type MessageSchemas } from './cel-fast.js';

/** The fields of the variables that have a fixed set of them. */
const SCHEMAS = {
  tool: { name: 'string', server: 'string', category: 'string', risk: 'string', annotations: 'map' },
  grant: { name: 'string', agent: 'string', labels: 'map' },
  session: { id: 'string' },
} as const satisfies MessageSchemas;

/**
 * The variables a condition may use, with their types, so that a misspelt variable or field, or
 * an expression of the wrong type, is reported when the policy loads rather than on a call.
 */
const ENV = new Environment()
  .registerVariable('args', 'map')
  .registerVariable({ name: 'tool', schema: SCHEMAS.tool })
  .registerVariable({ name: 'grant', schema: SCHEMAS.grant })
  .registerVariable({ name: 'session', schema: SCHEMAS.session })
  .registerVariable('now', 'google.protobuf.Timestamp');

export interface CompiledCel {
  source: string;
  /** JSON pointer of the expression in the policy file, named in run-time errors. */
  path: string;
  evaluate(vars: CelVars): { ok: true; value: unknown } | { ok: false; error: string };
  /** cel-js's evaluation alone, for a caller that has already had UNDECIDED from `native`. */
  interpret(vars: CelVars): { ok: true; value: unknown } | { ok: false; error: string };
  /**
   * The expression's native evaluation (see cel-fast.ts), when it has one: its value, or
   * UNDECIDED where only cel-js can answer. `evaluate` uses it first.
   */
  native: FastEval | undefined;
}

export interface CelOptions {
  /**
   * Evaluate the common shapes natively (default true). Off, cel-js evaluates every expression:
   * the benchmark's and the tests' reference for what the native evaluation must answer.
   */
  native?: boolean;
}

export interface CelVars {
  args: Record<string, unknown>;
  tool: { name: string; server: string; category?: string; risk?: string; annotations?: Record<string, unknown> };
  grant: { name: string; agent: string; labels: Record<string, string> };
  session: { id: string };
  now: Date;
}

export class CelCompileError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

export function compileCel(source: string, path: string, options: CelOptions = {}): CompiledCel {
  let fn: ((ctx: Record<string, unknown>) => unknown) & { ast: unknown; check(): { valid: boolean; error?: unknown } };
  let timed: boolean;
  try {
    fn = ENV.parse(source) as unknown as typeof fn;
    const checked = fn.check();
    if (!checked.valid) throw new CelCompileError(path, `invalid CEL expression: ${firstLine(checked.error)}`);
    // After the check, which gives each call its handle: bounds what evaluating it may cost.
    timed = boundCost(fn.ast).timed;
  } catch (err) {
    if (err instanceof CelCompileError) throw err;
    if (err instanceof CelCostError) throw new CelCompileError(path, err.message);
    throw new CelCompileError(path, `invalid CEL expression: ${firstLine(err)}`);
  }
  const run = (vars: CelVars): unknown => fn(vars as unknown as Record<string, unknown>);
  // Only comprehensions and matches can run long (see cel-budget.ts); the rest evaluates without a
  // deadline.
  const interpret = timed
    ? (vars: CelVars) => withinBudget(() => run(vars), vars)
    : (vars: CelVars): { ok: true; value: unknown } | { ok: false; error: string } => {
        try {
          return { ok: true, value: run(vars) };
        } catch (err) {
          return { ok: false, error: firstLine(err) };
        }
      };
  const fast: FastEval | undefined = options.native === false ? undefined : compileFast(fn.ast, SCHEMAS);
  if (!fast) return { source, path, evaluate: interpret, interpret, native: undefined };
  return {
    source,
    path,
    // The native answer when it has one; cel-js for everything else, errors included.
    evaluate(vars) {
      const value = fast(vars);
      return value === UNDECIDED ? interpret(vars) : { ok: true, value };
    },
    interpret,
    native: fast,
  };
}

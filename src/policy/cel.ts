// CEL conditions: compiled once when the policy loads, evaluated per call. A condition that
// fails at run time is reported, and the caller blocks the call (fail closed).
import { Environment } from '@marcbachmann/cel-js';

/**
 * The variables a condition may use, with their types, so that a misspelt variable or field, or
 * an expression of the wrong type, is reported when the policy loads rather than on a call.
 */
const ENV = new Environment()
  .registerVariable('args', 'map')
  .registerVariable({
    name: 'tool',
    schema: { name: 'string', server: 'string', category: 'string', risk: 'string', annotations: 'map' },
  })
  .registerVariable({ name: 'grant', schema: { name: 'string', agent: 'string', labels: 'map' } })
  .registerVariable({ name: 'session', schema: { id: 'string' } })
  .registerVariable('now', 'google.protobuf.Timestamp');

export interface CompiledCel {
  source: string;
  /** JSON pointer of the expression in the policy file, named in run-time errors. */
  path: string;
  evaluate(vars: CelVars): { ok: true; value: unknown } | { ok: false; error: string };
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

export function compileCel(source: string, path: string): CompiledCel {
  let fn: (ctx: Record<string, unknown>) => unknown;
  try {
    const checked = ENV.check(source);
    if (!checked.valid) throw new CelCompileError(path, `invalid CEL expression: ${firstLine(checked.error)}`);
    fn = ENV.parse(source) as unknown as (ctx: Record<string, unknown>) => unknown;
  } catch (err) {
    if (err instanceof CelCompileError) throw err;
    throw new CelCompileError(path, `invalid CEL expression: ${firstLine(err)}`);
  }
  return {
    source,
    path,
    evaluate(vars) {
      try {
        return { ok: true, value: fn(vars as unknown as Record<string, unknown>) };
      } catch (err) {
        return { ok: false, error: firstLine(err) };
      }
    },
  };
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}

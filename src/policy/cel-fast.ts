// Native evaluation of the CEL shapes policies use most (`has(args.x)`, `args.x > N`,
// `args.x == "s"`, `in [...]`, `size()`, `startsWith`, `&&`, `||`, `!`), compiled once from
// cel-js's parsed expression into closures.
//
// The rule that keeps it exact: a closure answers only when it is certain that cel-js would give
// the very same value without an error, and otherwise answers UNDECIDED, and the whole expression
// is then evaluated by cel-js. Every error, missing field, unexpected type or unusual container
// (a Map, a class instance, an object with its own `constructor` key) therefore takes the
// interpreter's path and gets the interpreter's answer, so a condition that fails still blocks the
// call with cel-js's own message. test/policy/cel-fast.test.ts compares the two on random inputs.
import type { CelVars } from './cel.js';

/** What a fast closure answers when only cel-js can say. */
export const UNDECIDED: unique symbol = Symbol('undecided');

export type FastEval = (vars: CelVars) => unknown;

/** Field types of the variables declared with a schema (`tool`, `grant`, `session`). */
export type MessageSchemas = Readonly<Record<string, Readonly<Record<string, 'string' | 'map'>>>>;

/** The parts of cel-js's AST node read here (see @marcbachmann/cel-js index.d.ts). */
interface Node {
  op: string;
  args: unknown;
}

type Fn = (vars: CelVars) => unknown;

interface Compiled {
  fn: Fn;
  /** The value, when the node is a literal (folded at compile time). */
  literal?: { value: unknown };
  /** For `size(x)`: a list's size as a JS number, the string whose size it is, or UNDECIDED. */
  size?: (vars: CelVars) => number | string | typeof UNDECIDED;
}

const U: typeof UNDECIDED = UNDECIDED;
const hasOwn = Object.hasOwn;
const getProto = Object.getPrototypeOf;
const OBJECT_PROTO = Object.prototype;
const ARRAY_PROTO = Array.prototype;

/**
 * Closures for an expression, or undefined when it uses anything this file does not evaluate
 * natively (then cel-js evaluates it on every call).
 */
export function compileFast(ast: unknown, schemas: MessageSchemas): FastEval | undefined {
  const c = compileNode(ast as Node, schemas);
  return c?.fn;
}

/**
 * A plain object, which cel-js takes for a map because its `constructor` is Object or none. The
 * prototype tells the same without reading `constructor`, a slow lookup when argument objects
 * come in many shapes. An object this answers false for is cel-js's to judge.
 */
function isPlainMap(o: unknown): o is Record<string, unknown> {
  if (typeof o !== 'object' || o === null) return false;
  const p: unknown = getProto(o);
  if (p === OBJECT_PROTO) return !hasOwn(o, 'constructor') && OBJECT_PROTO.constructor === Object;
  return p === null && !hasOwn(o, 'constructor');
}

/** An array whose `constructor` is Array, which cel-js takes for a list. */
function isPlainList(x: unknown): x is unknown[] {
  return (
    Array.isArray(x) && getProto(x) === ARRAY_PROTO && !hasOwn(x, 'constructor') && ARRAY_PROTO.constructor === Array
  );
}

/**
 * A value read from a map field, as cel-js returns it for a `dyn` field: primitives, null, plain
 * objects and arrays. Anything else (undefined is a missing key; Maps, Sets, Dates, functions,
 * class instances, arrays with an own `constructor`) is left to cel-js.
 */
function dynValue(x: unknown): unknown {
  switch (typeof x) {
    case 'string':
    case 'number':
    case 'bigint':
    case 'boolean':
      return x;
    case 'object':
      return x === null || isPlainMap(x) || isPlainList(x) ? x : U;
    default:
      return U;
  }
}

/** A literal cel-js can produce that this file handles: string, double, int, bool, null. */
function isSimpleLiteral(v: unknown): boolean {
  return (
    v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean'
  );
}

function constant(value: unknown): Compiled {
  return { fn: () => value, literal: { value } };
}

function compileNode(node: Node, schemas: MessageSchemas): Compiled | undefined {
  const args = node.args;
  switch (node.op) {
    case 'value':
      return isSimpleLiteral(args) ? constant(args) : undefined;
    case '-_': {
      // Only a negative literal, folded: `-5` parses as the negation of 5.
      const inner = compileNode(args as Node, schemas);
      const v = inner?.literal?.value;
      if (typeof v === 'bigint' || typeof v === 'number') return constant(-v);
      return undefined;
    }
    case 'id':
      return args === 'args' ? { fn: argsVar } : undefined;
    case '.':
    case '[]':
      return compileField(node, schemas);
    case 'call':
      return compileCall(node, schemas);
    case 'rcall':
      return compileMethod(node, schemas);
    case '&&':
    case '||':
      return compileLogical(node.op, args as [Node, Node], schemas);
    case '!_': {
      const inner = compileNode(args as Node, schemas);
      if (!inner) return undefined;
      const f = inner.fn;
      return {
        fn: (v) => {
          const x = f(v);
          return typeof x === 'boolean' ? !x : U;
        },
      };
    }
    case '==':
    case '!=':
      return compileEquality(node.op, args as [Node, Node], schemas);
    case '<':
    case '<=':
    case '>':
    case '>=':
      return compileOrder(node.op, args as [Node, Node], schemas);
    case 'in':
      return compileIn(args as [Node, Node], schemas);
    default:
      return undefined;
  }
}

/** `args`: cel-js requires a map; a Map instance is left to it. */
function argsVar(v: CelVars): unknown {
  const a: unknown = v.args;
  return isPlainMap(a) ? a : U;
}

/** The field's name for `x.f` and `x["f"]`, or undefined for any other index. */
function fieldName(node: Node): string | undefined {
  if (node.op === '.') return (node.args as [Node, string])[1];
  const index = (node.args as [Node, Node])[1];
  return index.op === 'value' && typeof index.args === 'string' ? index.args : undefined;
}

function compileField(node: Node, schemas: MessageSchemas): Compiled | undefined {
  const key = fieldName(node);
  if (key === undefined) return undefined;
  const left = (node.args as [Node, unknown])[0];
  // A field of a variable declared with a schema (`tool.name`, `grant.labels`).
  if (left.op === 'id' && typeof left.args === 'string' && left.args !== 'args') {
    const schema = schemas[left.args];
    const type = schema?.[key];
    if (!type || node.op !== '.') return undefined;
    const name = left.args as keyof CelVars;
    return {
      fn: (v) => {
        const m: unknown = v[name];
        if (!isPlainMap(m)) return U;
        const x = m[key];
        if (type === 'string') return typeof x === 'string' ? x : U;
        return isPlainMap(x) ? x : U;
      },
    };
  }
  const inner = compileNode(left, schemas);
  if (!inner) return undefined;
  const f = inner.fn;
  return {
    fn: (v) => {
      const o = f(v);
      if (!isPlainMap(o) || !hasOwn(o, key)) return U;
      return dynValue(o[key]);
    },
  };
}

function compileCall(node: Node, schemas: MessageSchemas): Compiled | undefined {
  const [name, params] = node.args as [string, Node[]];
  if (params.length !== 1) return undefined;
  if (name === 'has') return compileHas(params[0]!, schemas);
  if (name === 'size') return sizeOf(compileNode(params[0]!, schemas));
  return undefined;
}

/** `has(x.f)`: false for a missing field of a map (or of `tool`, `grant`, `session`). */
function compileHas(arg: Node, schemas: MessageSchemas): Compiled | undefined {
  if (arg.op !== '.') return undefined;
  const [left, key] = arg.args as [Node, string];
  if (left.op === 'id' && typeof left.args === 'string' && left.args !== 'args') {
    const type = schemas[left.args]?.[key];
    if (!type) return undefined;
    const name = left.args as keyof CelVars;
    return {
      fn: (v) => {
        const m: unknown = v[name];
        if (!isPlainMap(m)) return U;
        const x = m[key];
        if (x === undefined) return false;
        if (type === 'string') return typeof x === 'string' ? true : U;
        return isPlainMap(x) ? true : U;
      },
    };
  }
  const inner = compileNode(left, schemas);
  if (!inner) return undefined;
  const f = inner.fn;
  return {
    fn: (v) => {
      const o = f(v);
      if (!isPlainMap(o)) return U;
      if (!hasOwn(o, key)) return false;
      const x = o[key];
      if (x === undefined) return false;
      return dynValue(x) === U ? U : true;
    },
  };
}

/** The code points of a string, as cel-js counts them. */
function stringSize(s: string): number {
  let n = s.length;
  // A surrogate pair is one code point; a lone surrogate counts as one too.
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/**
 * `size(x)` or `x.size()` of a string or a list. A list counts only when its first element is a
 * primitive or it is empty: cel-js inspects the first element's type, deeply, before it counts.
 */
function sizeOf(inner: Compiled | undefined): Compiled | undefined {
  if (!inner) return undefined;
  const f = inner.fn;
  const size = (v: CelVars): number | string | typeof U => {
    const x = f(v);
    if (typeof x === 'string') return x;
    if (isPlainList(x)) {
      if (x.length === 0) return 0;
      const first: unknown = x[0];
      const t = typeof first;
      if (first === null || t === 'string' || t === 'number' || t === 'boolean' || t === 'bigint') return x.length;
    }
    return U;
  };
  return {
    fn: (v) => {
      const n = size(v);
      if (n === U) return U;
      return BigInt(typeof n === 'string' ? stringSize(n) : n);
    },
    size,
  };
}

const STRING_METHODS: Record<string, (a: string, b: string) => boolean> = {
  startsWith: (a, b) => a.startsWith(b),
  endsWith: (a, b) => a.endsWith(b),
  contains: (a, b) => a.includes(b),
};

function compileMethod(node: Node, schemas: MessageSchemas): Compiled | undefined {
  const [name, receiverNode, params] = node.args as [string, Node, Node[]];
  const receiver = compileNode(receiverNode, schemas);
  if (!receiver) return undefined;
  if (name === 'size' && params.length === 0) return sizeOf(receiver);
  const method = STRING_METHODS[name];
  if (!method || params.length !== 1) return undefined;
  const param = compileNode(params[0]!, schemas);
  if (!param) return undefined;
  const r = receiver.fn;
  const p = param.fn;
  return {
    fn: (v) => {
      const a = r(v);
      if (typeof a !== 'string') return U;
      const b = p(v);
      return typeof b === 'string' ? method(a, b) : U;
    },
  };
}

function compileLogical(op: '&&' | '||', [l, r]: [Node, Node], schemas: MessageSchemas): Compiled | undefined {
  const left = compileNode(l, schemas);
  const right = compileNode(r, schemas);
  if (!left || !right) return undefined;
  const lf = left.fn;
  const rf = right.fn;
  // With a boolean on the left, cel-js gives the left when it decides, else the right if it is
  // a boolean. Anything else (an error, a non-boolean) follows CEL's commutative rules: cel-js.
  const decides = op === '||';
  return {
    fn: (v) => {
      const a = lf(v);
      if (a === decides) return a;
      if (a !== !decides) return U;
      const b = rf(v);
      return typeof b === 'boolean' ? b : U;
    },
  };
}

function compileEquality(op: '==' | '!=', [l, r]: [Node, Node], schemas: MessageSchemas): Compiled | undefined {
  const left = compileNode(l, schemas);
  const right = compileNode(r, schemas);
  if (!left || !right) return undefined;
  const lf = left.fn;
  const rf = right.fn;
  const negate = op === '!=';
  // The same primitive type on both sides compares with ===, and an int with a double by value
  // (JS compares a BigInt and a number exactly). Other pairs (a string and a number, null, lists,
  // maps) follow cel-js's own rules, so it decides.
  return {
    fn: (v) => {
      const a = lf(v);
      if (a === U) return U;
      const b = rf(v);
      if (b === U) return U;
      const t = typeof a;
      if (t === typeof b) {
        if (t !== 'string' && t !== 'number' && t !== 'boolean' && t !== 'bigint') return U;
        return (a === b) !== negate;
      }
      // A BigInt and a number: == compares their values exactly.
      if (isNumber(a) && isNumber(b)) return (a == b) !== negate;
      return U;
    },
  };
}

type Order = '<' | '<=' | '>' | '>=';

const ORDER: Record<Order, (a: never, b: never) => boolean> = {
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
};

const isNumber = (x: unknown): boolean => typeof x === 'number' || typeof x === 'bigint';

function compileOrder(op: Order, [l, r]: [Node, Node], schemas: MessageSchemas): Compiled | undefined {
  const left = compileNode(l, schemas);
  const right = compileNode(r, schemas);
  if (!left || !right) return undefined;
  const cmp = ORDER[op] as (a: unknown, b: unknown) => boolean;
  // `size(x) <= 64`: both sides are integers, compared as JS numbers without making a BigInt. A
  // string of length L has between ceil(L/2) and L code points; when the comparison gives the same
  // answer at both ends it gives it for the count too, so long strings are rarely counted.
  const lit = right.literal?.value;
  if (
    left.size &&
    typeof lit === 'bigint' &&
    lit <= BigInt(Number.MAX_SAFE_INTEGER) &&
    lit >= -BigInt(Number.MAX_SAFE_INTEGER)
  ) {
    const size = left.size;
    const n = Number(lit);
    return {
      fn: (v) => {
        const s = size(v);
        if (s === U) return U;
        if (typeof s === 'number') return cmp(s, n);
        const most = cmp(s.length, n);
        return most === cmp((s.length + 1) >> 1, n) ? most : cmp(stringSize(s), n);
      },
    };
  }
  const lf = left.fn;
  const rf = right.fn;
  // int and double compare with each other (JS compares a number and a BigInt exactly, as
  // cel-js does); strings with strings. Other pairs are cel-js's to answer or reject.
  return {
    fn: (v) => {
      const a = lf(v);
      if (a === U) return U;
      const b = rf(v);
      if (b === U) return U;
      if (isNumber(a) ? isNumber(b) : typeof a === 'string' && typeof b === 'string') return cmp(a, b);
      return U;
    },
  };
}

/** `x in [literals]` with every element of one primitive type; x of another type is cel-js's. */
function compileIn([l, r]: [Node, Node], schemas: MessageSchemas): Compiled | undefined {
  if (r.op !== 'list') return undefined;
  const elements = (r.args as Node[]).map((e) => compileNode(e, schemas)?.literal);
  if (elements.length === 0 || elements.some((e) => e === undefined)) return undefined;
  const values = elements.map((e) => e!.value);
  const type = typeof values[0];
  if (values[0] === null || !['string', 'number', 'boolean', 'bigint'].includes(type)) return undefined;
  if (values.some((x) => typeof x !== type)) return undefined;
  const left = compileNode(l, schemas);
  if (!left) return undefined;
  const lf = left.fn;
  // A Set answers like cel-js's === (it differs only for NaN, which no literal list holds).
  const set = new Set(values);
  return {
    fn: (v) => {
      const a = lf(v);
      return typeof a === type ? set.has(a) : U;
    },
  };
}

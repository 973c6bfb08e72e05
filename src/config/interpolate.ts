// `${VAR}` in any string of a config is replaced from the environment, so that secrets stay out of the
// file. Only string values are touched, never keys. `$${VAR}` stands for the literal text `${VAR}`.
import { toPointer } from './problems.js';

export type Env = Record<string, string | undefined>;

export interface MissingVariable {
  /** JSON pointer of the string that names the variable. */
  path: string;
  name: string;
}

export interface Interpolated {
  value: unknown;
  missing: MissingVariable[];
}

const REFERENCE = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export function interpolateEnv(value: unknown, env: Env): Interpolated {
  const missing: MissingVariable[] = [];
  const walk = (node: unknown, path: PropertyKey[]): unknown => {
    if (typeof node === 'string') return substitute(node, env, (name) => missing.push({ path: toPointer(path), name }));
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, i]));
    if (typeof node === 'object' && node !== null) {
      return Object.fromEntries(Object.entries(node).map(([key, item]) => [key, walk(item, [...path, key])]));
    }
    return node;
  };
  return { value: walk(value, []), missing };
}

function substitute(text: string, env: Env, onMissing: (name: string) => void): string {
  return text.replace(REFERENCE, (_match, escaped: string, name: string) => {
    if (escaped) return `\${${name}}`;
    const found = env[name];
    if (found === undefined) {
      onMissing(name);
      return '';
    }
    return found;
  });
}

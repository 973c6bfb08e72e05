// `Mcp-Param-*` headers (2026-07-28): a tool marks input properties with `x-mcp-header: Name`,
// and a client calling it over HTTP mirrors those argument values into headers, so that
// intermediaries can route on them. Gatehouse checks that the headers agree with the body (else
// 400, -32020) and sets them itself when it calls a modern HTTP server.
import { isObject, type JsonObject } from './jsonrpc.js';

export const PARAM_HEADER_PREFIX = 'mcp-param-';
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PRIMITIVE = new Set(['string', 'integer', 'boolean', 'number']);
const BASE64_PREFIX = '=?base64?';
const BASE64_SUFFIX = '?=';

export interface ParamHeader {
  name: string;
  /** Property path from the arguments object. */
  path: string[];
  type: string;
}

/** Declarations found along plain `properties` chains of a tool's input schema. */
export function paramHeaderDeclarations(inputSchema: unknown): ParamHeader[] {
  const out: ParamHeader[] = [];
  const visit = (node: unknown, path: string[]) => {
    if (!isObject(node)) return;
    const name = node['x-mcp-header'];
    if (
      path.length > 0 &&
      typeof name === 'string' &&
      TOKEN.test(name) &&
      typeof node.type === 'string' &&
      PRIMITIVE.has(node.type)
    ) {
      out.push({ name, path, type: node.type });
    }
    if (isObject(node.properties)) for (const [k, child] of Object.entries(node.properties)) visit(child, [...path, k]);
  };
  visit(inputSchema, []);
  return out;
}

function valueAt(args: unknown, path: string[]): unknown {
  let v = args;
  for (const k of path) v = isObject(v) ? v[k] : undefined;
  return v;
}

function primitiveText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** `value` as `=?base64?…?=`. */
function base64Wrapped(value: string): string {
  return `${BASE64_PREFIX}${Buffer.from(value, 'utf8').toString('base64')}${BASE64_SUFFIX}`;
}

/** Plain visible ASCII passes as is; anything else is wrapped as `=?base64?…?=`. */
export function encodeParamValue(value: string): string {
  const plain = /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(value) && !value.startsWith(BASE64_PREFIX);
  return plain ? value : base64Wrapped(value);
}

/**
 * A header value as the SDK encodes `Mcp-Name`: safe ASCII as is, anything else base64-wrapped.
 * It differs from encodeParamValue's rule for tabs, spaces and a `=?base64?` prefix without its suffix.
 */
export function encodeMcpName(value: string): string {
  let plain =
    value.length > 0 && value === value.trim() && !(value.startsWith(BASE64_PREFIX) && value.endsWith(BASE64_SUFFIX));
  for (let i = 0; plain && i < value.length; i++) {
    const c = value.charCodeAt(i);
    plain = c === 9 || (c >= 32 && c <= 126);
  }
  return plain ? value : base64Wrapped(value);
}

/** The decoded header value, or undefined when its base64 wrapping is malformed. */
export function decodeParamValue(value: string): string | undefined {
  if (!value.startsWith(BASE64_PREFIX) || !value.endsWith(BASE64_SUFFIX)) return value;
  const b64 = value.slice(BASE64_PREFIX.length, value.length - BASE64_SUFFIX.length);
  if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return undefined;
  return Buffer.from(b64, 'base64').toString('utf8');
}

/** Why the headers disagree with the arguments, or undefined when they agree. */
export function paramHeaderMismatch(
  decls: ParamHeader[],
  args: unknown,
  header: (name: string) => string | undefined,
): string | undefined {
  for (const d of decls) {
    const raw = valueAt(args, d.path);
    if (raw === undefined || raw === null) continue;
    const text = primitiveText(raw);
    if (text === undefined) continue;
    const h = header(`${PARAM_HEADER_PREFIX}${d.name}`.toLowerCase());
    if (h === undefined)
      return `the body carries ${d.path.join('.')}=${JSON.stringify(raw)} but the Mcp-Param-${d.name} header is absent`;
    const decoded = decodeParamValue(h);
    if (decoded === undefined) return `the Mcp-Param-${d.name} header carries an invalid base64 value`;
    const same =
      typeof raw === 'number' && /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(decoded)
        ? Number(decoded) === raw
        : decoded === text;
    if (!same)
      return `the Mcp-Param-${d.name} header decodes to ${JSON.stringify(decoded)} but the body carries ${d.path.join('.')}=${JSON.stringify(raw)}`;
  }
  return undefined;
}

/** The headers a client must send for a call with these arguments. */
export function paramHeadersFor(decls: ParamHeader[], args: JsonObject | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of decls) {
    const text = primitiveText(valueAt(args, d.path));
    if (text !== undefined) out[`Mcp-Param-${d.name}`] = encodeParamValue(text);
  }
  return out;
}

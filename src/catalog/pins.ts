// Pins against changed tools ("rug pulls"): each tool's definition — name, title, description,
// input and output schemas, annotations, icons, execution and _meta — is hashed and stored when
// first seen. A later change blocks the tool until an operator accepts it; the diff shows what
// changed.
import { createHash } from 'node:crypto';
import { createTwoFilesPatch } from 'diff';
import { isObject, type JsonObject } from '../mcp/jsonrpc.js';

export interface Pin {
  server: string;
  tool: string;
  hash: string;
  /** The pinned definition, canonical JSON. */
  definition: string;
  pinnedAt: number;
  /** A definition seen since that differs from the pinned one, waiting for an operator. */
  pending?: { hash: string; definition: string; seenAt: number };
}

/** JSON with object keys sorted, so equal definitions hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isObject(value)) {
    return `{${Object.keys(value)
      .sort()
      .filter((k) => value[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** What a Gatehouse that pinned the title and the output schema, but not yet the rest, held. */
const titled = (t: JsonObject): JsonObject => ({
  name: t.name,
  title: t.title ?? null,
  description: t.description ?? null,
  inputSchema: t.inputSchema ?? null,
  outputSchema: t.outputSchema ?? null,
  annotations: t.annotations ?? null,
});

/**
 * What of a tool is pinned, by the format of each Gatehouse that stored pins, newest first: the parts
 * that tell an agent what the tool does and those the risk category is read from (the title among
 * them: "Read records" and "Delete all records" are not the same tool); then what changes how a
 * client shows or runs the tool: its icons, its `execution` (whether it runs as a task) and its
 * `_meta` (where a client finds the interface it renders for the tool, say). A pin stored in an
 * earlier format is recognised by the keys it holds (see checkPin).
 */
const FORMATS: readonly { keys: readonly string[]; of: (tool: JsonObject) => JsonObject }[] = [
  {
    keys: ['_meta'],
    of: (t) => ({ ...titled(t), icons: t.icons ?? null, execution: t.execution ?? null, _meta: t._meta ?? null }),
  },
  { keys: ['title'], of: titled },
  {
    keys: [],
    of: (t) => ({
      name: t.name,
      description: t.description ?? null,
      inputSchema: t.inputSchema ?? null,
      annotations: t.annotations ?? null,
    }),
  },
];

/** The tool's pinned definition in today's format, and its hash. */
export function pinnedDefinition(tool: JsonObject): { hash: string; definition: string } {
  const definition = canonicalJson(FORMATS[0]!.of(tool));
  return { hash: createHash('sha256').update(definition).digest('hex'), definition };
}

/** The tool's definition in the format a pin was stored in; undefined when the pin is of today's. */
function definitionAsPinned(pin: Pin, tool: JsonObject): string | undefined {
  let held: unknown;
  try {
    held = JSON.parse(pin.definition);
  } catch {
    return undefined;
  }
  if (!isObject(held)) return undefined;
  const format = FORMATS.find((f) => f.keys.every((k) => k in held));
  return format && format !== FORMATS[0] ? canonicalJson(format.of(tool)) : undefined;
}

export type PinVerdict = 'new' | 'same' | 'changed';

/** Compares a tool as seen now with its pin; returns the verdict and the pin to store, if any change. */
export function checkPin(
  existing: Pin | undefined,
  server: string,
  tool: JsonObject,
  now: number,
): { verdict: PinVerdict; store?: Pin } {
  const { hash, definition } = pinnedDefinition(tool);
  const name = String(tool.name);
  if (!existing) return { verdict: 'new', store: { server, tool: name, hash, definition, pinnedAt: now } };
  if (existing.hash === hash) {
    // The server went back to the pinned definition: nothing is waiting any more.
    if (existing.pending) {
      const { pending: _p, ...rest } = existing;
      return { verdict: 'same', store: rest };
    }
    return { verdict: 'same' };
  }
  // A pin stored in an earlier format (before the title, or the icons and `_meta`, were pinned), of
  // a tool unchanged in what it held: brought up to date as it stands, as a new tool is pinned, not
  // blocked as changed. From then on what it did not hold is pinned too.
  if (existing.definition === definitionAsPinned(existing, tool)) {
    const { pending: _p, ...rest } = existing;
    return { verdict: 'same', store: { ...rest, hash, definition } };
  }
  // The change waiting for review stays the one an operator reviews: a server that shows another
  // definition after it (or to another session) must not swap what `pins accept` lets through for
  // something `pins diff` never showed. The other definition is blocked all the same (it is not the
  // pinned one) and waits in turn once the first is accepted.
  if (existing.pending) return { verdict: 'changed' };
  return { verdict: 'changed', store: { ...existing, pending: { hash, definition, seenAt: now } } };
}

/** A readable unified diff of the pinned definition and the one waiting (jsdiff does the diffing). */
export function pinDiff(pin: Pin): string {
  if (!pin.pending) return `${pin.server}/${pin.tool}: no change waiting`;
  return createTwoFilesPatch(
    `${pin.server}/${pin.tool} (pinned)`,
    `${pin.server}/${pin.tool} (now, sha256 ${pin.pending.hash})`,
    pretty(pin.definition),
    pretty(pin.pending.definition),
    '',
    '',
    { context: 3 },
  );
}

function pretty(canonical: string): string {
  return `${JSON.stringify(JSON.parse(canonical), null, 2)}\n`;
}

/**
 * Accepts the changes waiting on a server's tools (all, or one); returns what was accepted. With
 * `expectedHash`, only a waiting definition of that hash (the one a diff showed) is accepted.
 */
export async function acceptPins(
  store: { listPins(server?: string): Promise<Pin[]>; putPin(pin: Pin): Promise<void> },
  server: string,
  tool?: string,
  expectedHash?: string,
): Promise<Pin[]> {
  const waiting = (await store.listPins(server)).filter(
    (p) =>
      p.pending &&
      (tool === undefined || p.tool === tool) &&
      (expectedHash === undefined || p.pending.hash === expectedHash),
  );
  const accepted: Pin[] = [];
  for (const p of waiting) {
    const next: Pin = {
      server: p.server,
      tool: p.tool,
      hash: p.pending!.hash,
      definition: p.pending!.definition,
      pinnedAt: Date.now(),
    };
    await store.putPin(next);
    accepted.push(next);
  }
  return accepted;
}

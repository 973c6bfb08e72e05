// Which server a resource URI on `/mcp` belongs to, decided from what the servers themselves list:
// their resource URIs and their resource templates. The decision is made per request among the
// servers the caller may use, so it never depends on what another client listed or read.
import { UriTemplate } from '@modelcontextprotocol/server';

/** What one upstream connection lists, kept so that routing a read does not list again each time. */
export interface ResourceIndex {
  uris?: ReadonlySet<string>;
  templates?: readonly string[];
  /** When each part was last learnt (ms since the epoch). */
  urisAt?: number;
  templatesAt?: number;
}

/** URIs and templates kept per connection: beyond these, a server's list is not remembered in full. */
export const MAX_INDEXED_URIS = 20_000;
export const MAX_INDEXED_TEMPLATES = 1_000;

export type OwnerChoice =
  | { server: string; by: 'listed' | 'template' | 'origin' }
  | { ambiguous: string[]; by: 'listed' | 'template' | 'origin' }
  | { none: true };

/**
 * Chooses the server for `uri` among `candidates` (the caller's servers, each with what it lists).
 * `visible` says whether the caller's policy on a server shows the URI: among several servers that
 * claim it, those that hide it from the caller do not count.
 *
 * 1. Listed: the servers whose resources/list holds the URI.
 * 2. Otherwise a template: the servers with a resource template the URI is an instance of (or the
 *    template itself, as completion/complete names it).
 * 3. Otherwise the origin: the servers that list a URI or template with the same scheme and
 *    authority (`file://`, `docs://handbook`).
 *
 * The first rule that names any server decides: one server is the owner, several are ambiguous.
 * When none does, there is no owner: the URI is not sent to each server in turn to see which one
 * answers, since that would hand it to servers that never claimed it (and let the first to answer
 * take it over).
 */
export function chooseOwner(
  uri: string,
  candidates: ReadonlyArray<readonly [string, ResourceIndex]>,
  visible: (server: string) => boolean,
): OwnerChoice {
  const rules: ['listed' | 'template' | 'origin', (index: ResourceIndex) => boolean][] = [
    ['listed', (i) => i.uris?.has(uri) === true],
    ['template', (i) => (i.templates ?? []).some((t) => t === uri || templateMatches(t, uri))],
    ['origin', (i) => sharesOrigin(i, uri)],
  ];
  for (const [by, claims] of rules) {
    const claimants = candidates.filter(([, index]) => claims(index)).map(([server]) => server);
    if (claimants.length === 0) continue;
    const shown = claimants.filter(visible);
    const owners = shown.length > 0 ? shown : claimants;
    // Several servers that all hide the URI from this caller: none of them is the owner.
    if (owners.length > 1 && shown.length === 0) return { none: true };
    return owners.length === 1 ? { server: owners[0]!, by } : { ambiguous: owners, by };
  }
  return { none: true };
}

/**
 * Whether `uri` is an instance of the RFC 6570 template `template`, matched by the SDK's own
 * UriTemplate, as servers built on the SDKs match the reads they are sent.
 */
function templateMatches(template: string, uri: string): boolean {
  if (!UriTemplate.isTemplate(template)) return false;
  try {
    return new UriTemplate(template).match(uri) !== null;
  } catch {
    return false; // a template or URI longer than the SDK takes
  }
}

/** `scheme://authority` of a URI (scheme lowercased), or undefined when it has none. */
function originOf(uri: string): string | undefined {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(\/\/[^/?#{]*)?/.exec(uri);
  if (!m) return undefined;
  // A template whose authority is itself an expression has no fixed origin.
  if (m[2] !== undefined && uri[m[0].length] === '{') return undefined;
  return `${m[1]!.toLowerCase()}:${m[2] ?? ''}`;
}

function sharesOrigin(index: ResourceIndex, uri: string): boolean {
  const origin = originOf(uri);
  if (origin === undefined) return false;
  for (const u of index.uris ?? []) if (originOf(u) === origin) return true;
  return (index.templates ?? []).some((t) => originOf(t) === origin);
}

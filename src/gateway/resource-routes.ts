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

/** How the servers of a choice claim the URI: `listed or template` when some list it and some have a template for it. */
export type ClaimKind = 'listed' | 'template' | 'listed or template' | 'origin';

export type OwnerChoice = { server: string; by: ClaimKind } | { ambiguous: string[]; by: ClaimKind } | { none: true };

/**
 * Chooses the server for `uri` among `candidates` (the caller's servers, each with what it lists).
 * `visible` says whether the caller's policy on a server shows the URI: among several servers that
 * claim it, those that hide it from the caller do not count.
 *
 * 1. A claim: the servers whose resources/list holds the URI, and those with a resource template
 *    the URI is an instance of (or the template itself, as completion/complete names it) whose
 *    scheme and authority are fixed. One such server owns it; several are ambiguous, whichever way
 *    each claims it. A listing does not outrank such a template: a server that served an item
 *    through its template would otherwise lose its reads to any other server that put the item's
 *    URI in its own list.
 * 2. Otherwise a template with no fixed origin (`{+url}`, `https://{+path}`): it matches anything,
 *    so it must not make every URI the other servers list ambiguous.
 * 3. Otherwise the origin: the servers that list a URI or template with the same scheme and
 *    authority (`file://`, `docs://handbook`).
 *
 * When none names a server, there is no owner: the URI is not sent to each server in turn to see
 * which one answers, since that would hand it to servers that never claimed it (and let the first
 * to answer take it over).
 */
export function chooseOwner(
  uri: string,
  candidates: ReadonlyArray<readonly [string, ResourceIndex]>,
  visible: (server: string) => boolean,
): OwnerChoice {
  const claims: [string, 'listed' | 'template'][] = [];
  const broad: [string, 'template'][] = [];
  for (const [server, index] of candidates) {
    if (index.uris?.has(uri) === true) {
      claims.push([server, 'listed']);
      continue;
    }
    const matching = (index.templates ?? []).filter((t) => t === uri || templateMatches(t, uri));
    if (matching.some(hasFixedOrigin)) claims.push([server, 'template']);
    else if (matching.length > 0) broad.push([server, 'template']);
  }
  if (claims.length > 0) return decide(claims, visible);
  if (broad.length > 0) return decide(broad, visible);
  const byOrigin = candidates
    .filter(([, index]) => sharesOrigin(index, uri))
    .map(([server]) => [server, 'origin'] as const);
  return byOrigin.length > 0 ? decide(byOrigin, visible) : { none: true };
}

/** One owner among the claimants the caller is shown the URI by, or the ambiguity. */
function decide(
  claims: ReadonlyArray<readonly [string, ClaimKind]>,
  visible: (server: string) => boolean,
): OwnerChoice {
  const shown = claims.filter(([server]) => visible(server));
  // Several servers that all hide the URI from this caller: none of them is the owner.
  if (claims.length > 1 && shown.length === 0) return { none: true };
  const owners = shown.length > 0 ? shown : claims;
  const kinds = new Set(owners.map(([, by]) => by));
  const by: ClaimKind = kinds.size === 1 ? owners[0]![1] : 'listed or template';
  return owners.length === 1 ? { server: owners[0]![0], by } : { ambiguous: owners.map(([server]) => server), by };
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

/** A URI's scheme, and its `//authority` when it has one. */
const ORIGIN = /^([A-Za-z][A-Za-z0-9+.-]*):(\/\/[^/?#{]*)?/;

/** `scheme://authority` of a URI (scheme lowercased), or undefined when it has none. */
function originOf(uri: string): string | undefined {
  const m = ORIGIN.exec(uri);
  if (!m) return undefined;
  // A template whose authority is itself an expression has no fixed origin.
  if (m[2] !== undefined && uri[m[0].length] === '{') return undefined;
  return `${m[1]!.toLowerCase()}:${m[2] ?? ''}`;
}

/**
 * Whether a template's scheme and authority are literal and something literal follows them before
 * its first expression: `items://catalog/{id}` and `file:///{+path}`, not `{+url}`,
 * `https://{+host}/x` or `urn:{id}`, which take any URI of their scheme or any at all.
 */
function hasFixedOrigin(template: string): boolean {
  const m = ORIGIN.exec(template);
  return m !== null && template[m[0].length] !== '{';
}

function sharesOrigin(index: ResourceIndex, uri: string): boolean {
  const origin = originOf(uri);
  if (origin === undefined) return false;
  for (const u of index.uris ?? []) if (originOf(u) === origin) return true;
  return (index.templates ?? []).some((t) => originOf(t) === origin);
}

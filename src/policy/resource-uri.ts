// A resource URI as a server reads it. Servers built on the MCP SDKs look a resource up by its
// parsed URL (`new URL(uri).href`), and file servers go on to decode and resolve the path, so
// `NOTES://vault/./key`, `file:///srv/public/../secret/x`, `file://localhost/srv/secret/x`,
// `file:///srv/%73ecret/x` and `file:///srv//secret/x` (the operating system reads `//` in a path
// as `/`) all name the resource a rule wrote as `notes://vault/key` or `file:///srv/secret/x`.
// Rules are matched against this form as well as the URI as sent.

import { posix } from 'node:path';

/** Rounds of parse-and-decode at most: each can uncover another encoded dot segment. */
const ROUNDS = 4;

/**
 * The URI with the URL standard's normalisation applied (scheme and host case, `localhost` in
 * `file:` URLs, dot segments, backslashes, stray whitespace; runs of `/` in a `file:` path made
 * one), then percent-decoded, repeatedly, until it no longer changes: the spelling an operator
 * writes a rule in. A string that is not a URL is returned as it is.
 */
export function naturalUri(uri: string): string {
  let s = uri;
  for (let i = 0; i < ROUNDS; i++) {
    let href: string;
    try {
      const url = new URL(s);
      // A file server opens the path decoded, then resolved by the operating system, which reads
      // `//` as `/` and `..` after it: `/srv/x/%2F..` is `/srv` to it, where the URL standard,
      // which keeps empty segments, resolves `..` against the empty one.
      if (url.protocol === 'file:') {
        const opened = posix.normalize(decoded(url.pathname));
        if (opened !== url.pathname) url.pathname = opened;
      }
      href = url.href;
    } catch {
      return s;
    }
    const next = decoded(href);
    if (next === s) return s;
    s = next;
  }
  return s;
}

function decoded(href: string): string {
  try {
    return decodeURIComponent(href);
  } catch {
    return href; // a stray `%`: the parsed form is as far as it goes
  }
}

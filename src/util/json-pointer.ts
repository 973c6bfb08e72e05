// One token of a JSON pointer (RFC 6901), the form every problem's path takes. No dependency, so
// the dashboard uses it too to find the problems of a key it shows.

/** `key` as one token of a pointer: `~` and `/` escaped. */
export function pointerToken(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

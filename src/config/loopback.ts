// Whether an address is reachable only from this machine. `auth.mode: none` is safe only on such a
// listen address, and a gateway listening on one serves only such Host names (DNS rebinding): both
// ask this one function, so no spelling of loopback can pass the first and skip the second.
import { isIP, isIPv4 } from 'node:net';

/** `localhost`, an IPv4 address in 127.0.0.0/8, or IPv6 loopback (`::1`, and 127/8 mapped), in any spelling. */
export function isLoopbackHost(host: string): boolean {
  const bare = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (bare === 'localhost') return true;
  if (isIPv4(bare)) return bare.split('.')[0] === '127';
  // A zone (`::1%lo`, `fe80::1%eth0`, `%25` in a Host) names an interface, not another address.
  const address = bare.replace(/%.*$/, '');
  if (isIP(address) !== 6) return false;
  // The URL standard's form of the address: one spelling for `::1`, `0:0:0:0:0:0:0:1` and
  // `0::1`, and hex for a mapped IPv4 address (`::ffff:127.0.0.1` is `::ffff:7f00:1`).
  let canonical: string;
  try {
    canonical = new URL(`http://[${address}]/`).hostname;
  } catch {
    return false;
  }
  return canonical === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(canonical);
}

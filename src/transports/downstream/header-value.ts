// HTTP header values of 2026-07-28 requests: plain ASCII as is, anything else wrapped as
// `=?base64?<utf-8 in base64>?=`.
const PREFIX = '=?base64?';
const SUFFIX = '?=';

export function decodeHeaderValue(value: string): string | undefined {
  if (!value.startsWith(PREFIX) || !value.endsWith(SUFFIX)) return value;
  const b64 = value.slice(PREFIX.length, value.length - SUFFIX.length);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return undefined;
  return Buffer.from(b64, 'base64').toString('utf8');
}

// An upstream's credentials — the values of its `headers` and `env`, the password and query of its
// URL — belong to the operator, and nothing the gateway writes may carry them: its log (where an
// upstream's stderr and transport errors go), the errors it answers clients and the admin API with.
// Upstreams echo them more often than one would think: "invalid token Bearer ...", a server that
// prints its configuration at start-up. So every text that comes from an upstream, or from failing
// to reach one, passes through the redactor of that upstream's config.
import type { ServerConfig } from '../config/schema.js';

/** Shorter values are not taken for credentials: redacting `1` or `true` would mangle every line. */
export const MIN_SECRET_LENGTH = 8;
export const REDACTED = '[REDACTED]';

/** The values of a server's config that may be credentials, longest first. */
export function upstreamSecrets(cfg: Pick<ServerConfig, 'headers' | 'env' | 'url'>): string[] {
  const values: string[] = [];
  for (const value of [...Object.values(cfg.headers), ...Object.values(cfg.env)]) {
    values.push(value);
    // `Bearer <token>`, `Basic <credentials>`: the credential alone shows up in messages as well.
    values.push(...value.split(/\s+/));
  }
  if (cfg.url) {
    try {
      const url = new URL(cfg.url);
      values.push(decodeURIComponent(url.password), ...url.searchParams.values());
    } catch {
      // Not a URL: the config schema refuses it before a connection is made.
    }
  }
  const secrets = new Set<string>();
  for (const v of values) {
    if (v.length < MIN_SECRET_LENGTH) continue;
    // As written, and as it appears inside JSON and inside URLs.
    secrets.add(v);
    secrets.add(JSON.stringify(v).slice(1, -1));
    secrets.add(encodeURIComponent(v));
  }
  return [...secrets].sort((a, b) => b.length - a.length);
}

export type Redact = (text: string) => string;

/** Replaces every secret in a text with [REDACTED]; the identity when there are none. */
export function redactor(secrets: readonly string[]): Redact {
  if (secrets.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
  };
}

/** A JSON value with every string redacted; the same object when no string held a secret. */
export function redactValue<T>(value: T, redact: Redact): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) {
    const mapped = value.map((v) => redactValue(v, redact));
    return (mapped.some((v, i) => v !== value[i]) ? mapped : value) as T;
  }
  if (typeof value === 'object' && value !== null) {
    let changed = false;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = redactValue(v, redact);
      if (out[k] !== v) changed = true;
    }
    return (changed ? out : value) as T;
  }
  return value;
}

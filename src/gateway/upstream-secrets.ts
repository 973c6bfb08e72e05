// An upstream's credentials — its `headers`, the credentials among its `env`, the password and query
// of its URL — belong to the operator, and nothing the gateway writes may carry them: its log (where an
// upstream's stderr and transport errors go), the errors it answers clients and the admin API with.
// Upstreams echo them more often than one would think: "invalid token Bearer ...", a server that
// prints its configuration at start-up. So every text that comes from an upstream, or from failing
// to reach one, passes through the redactor of that upstream's config.
import { REDACTED } from '../audit/redact.js';
import type { ServerConfig } from '../config/schema.js';

/** Shorter values are not taken for credentials: redacting `1` or `true` would mangle every line. */
export const MIN_SECRET_LENGTH = 8;

/** Environment variable names that hold credentials, as they are usually spelled. */
const CREDENTIAL_NAME = /key|token|secret|passw|pwd|auth|credential|cookie|session|private|signature|api/i;

/**
 * A value that looks like a credential whatever its variable is called: long, in one piece, with
 * letters and digits, and not a path. An env value such as a file path or a tool name is left
 * alone, so that an upstream's error naming it still reaches the client as written.
 */
function looksLikeCredential(value: string): boolean {
  return value.length >= 16 && !/[\s/\\]/.test(value) && /\d/.test(value) && /[A-Za-z]/.test(value);
}

/** The password and query values of a URL (`postgres://app:pw@db/app`, `https://x/mcp?key=...`). */
function urlCredentials(text: string): string[] {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return [];
  try {
    const url = new URL(text);
    return [decodeURIComponent(url.password), ...url.searchParams.values()];
  } catch {
    return [];
  }
}

/**
 * The values of a server's config that are, or may be, credentials, longest first: every header
 * value (and the token after its scheme); every env value whose name or look says credential; the
 * password and query values of its URL and of any URL in its env.
 */
export function upstreamSecrets(cfg: Pick<ServerConfig, 'headers' | 'env' | 'url'>): string[] {
  const whole = (value: string) => [value, ...value.split(/\s+/)];
  const values: string[] = Object.values(cfg.headers).flatMap(whole);
  for (const [name, value] of Object.entries(cfg.env)) {
    if (CREDENTIAL_NAME.test(name) || looksLikeCredential(value)) values.push(...whole(value));
    values.push(...urlCredentials(value));
  }
  if (cfg.url) values.push(...urlCredentials(cfg.url));
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

export type Redact = ((text: string) => string) & { readonly active: boolean };

/** Replaces every secret in a text with [REDACTED]; the identity (`active` false) when there are none. */
export function redactor(secrets: readonly string[]): Redact {
  if (secrets.length === 0) return Object.assign((text: string) => text, { active: false });
  return Object.assign(
    (text: string) => {
      let out = text;
      for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
      return out;
    },
    { active: true },
  );
}

/** A JSON value with every string redacted; the same object when no string held a secret. */
export function redactValue<T>(value: T, redact: Redact): T {
  if (!redact.active) return value;
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

// The admin API from the browser: the token the operator pasted (kept in sessionStorage, so it is
// gone when the tab closes), sent as a Bearer header on every request, and errors as values.
const TOKEN_KEY = 'gatehouse.adminToken';

export function savedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Called when the gateway refuses the token (401): the app goes back to sign-in. */
let onUnauthorized: () => void = () => undefined;
export function whenUnauthorized(fn: () => void): void {
  onUnauthorized = fn;
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const token = savedToken();
  return { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra };
}

/**
 * Why `path` cannot be sent as it is: a segment `.` or `..` (a tool an upstream named ".") is
 * removed by the browser before the request leaves, so `pins/s/accept/.` would reach the gateway
 * as `pins/s/accept/`, which names another route. Encoding does not help: `%2e` is a dot segment too.
 */
function dotSegment(path: string): string | undefined {
  const segment = path
    .split('?')[0]!
    .split('/')
    .find((s) => /^(?:\.|%2e){1,2}$/i.test(s));
  return segment === undefined
    ? undefined
    : `"${segment}" cannot be named in an address; use the command line (gatehouse pins, grants, approvals) for it.`;
}

export async function api<T>(method: string, path: string, body?: unknown, token?: string): Promise<T> {
  const refused = dotSegment(path);
  if (refused) throw new ApiError(0, refused);
  let res: Response;
  try {
    res = await fetch(`/api/v1/${path}`, {
      method,
      headers: headers({
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      }),
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch {
    throw new ApiError(0, 'The gateway cannot be reached.');
  }
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    json = { error: text };
  }
  if (!res.ok) {
    if (res.status === 401 && !token) onUnauthorized();
    const message = typeof json.error === 'string' ? json.error : `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, message, json);
  }
  return json as T;
}

export const get = <T>(path: string) => api<T>('GET', path);
export const post = <T>(path: string, body: unknown = {}) => api<T>('POST', path, body);

export function q(params: Record<string, string | number | undefined | null>): string {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') s.set(k, String(v));
  const text = s.toString();
  return text ? `?${text}` : '';
}

export function enc(segment: string): string {
  return encodeURIComponent(segment);
}

/**
 * Follows a server-sent event stream with fetch (EventSource cannot send an Authorization header).
 * Calls `onEvent` for each event; resolves when the stream ends or `signal` aborts.
 */
export async function followEvents(
  path: string,
  onEvent: (event: string, data: unknown) => void,
  signal: AbortSignal,
): Promise<void> {
  const refused = dotSegment(path);
  if (refused) throw new ApiError(0, refused);
  const res = await fetch(`/api/v1/${path}`, { headers: headers({ accept: 'text/event-stream' }), signal });
  if (!res.ok || !res.body) {
    if (res.status === 401) onUnauthorized();
    throw new ApiError(res.status, `The event stream answered ${res.status}.`);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of frame.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length === 0) continue;
      try {
        onEvent(event, JSON.parse(data.join('\n')));
      } catch {
        onEvent(event, data.join('\n'));
      }
    }
  }
}

// `GET /api/v1/stats?since=24h&until=&buckets=48&top=10`: the dashboard overview's numbers from the
// audit log — calls and decisions over time, top tools, top denials (src/audit/stats.ts) — and the
// servers with their health, as /readyz sees them.
import type { ServerResponse } from 'node:http';
import type { GatewayCore } from '../gateway/core.js';
import { MAX_BUCKETS } from '../audit/stats.js';
import { parseTimeBound, TIME_BOUND_HELP } from '../audit/time-bound.js';
import { sendJson } from './respond.js';

const KNOWN = new Set(['since', 'until', 'buckets', 'top']);
const DEFAULT_SINCE_MS = 24 * 3600_000;
const DEFAULT_BUCKETS = 48;

export interface ServerHealth {
  name: string;
  ready: boolean;
  era?: string;
  error?: string;
  /** Whether a policy is in force for it (else every call is forwarded). */
  policy: boolean;
}

export function serverHealth(core: GatewayCore): ServerHealth[] {
  return Object.keys(core.pool.servers).map((name) => {
    const c = core.pool.sharedConnection(name);
    return {
      name,
      ready: c.isReady,
      ...(c.era ? { era: c.era } : {}),
      ...(c.lastError ? { error: c.lastError } : {}),
      policy: core.policies.has(name),
    };
  });
}

export async function answerStats(core: GatewayCore, res: ServerResponse, params: URLSearchParams): Promise<void> {
  const unknown = [...params.keys()].filter((k) => !KNOWN.has(k));
  if (unknown.length > 0)
    return sendJson(res, 400, { error: `unknown parameter ${unknown.join(', ')}; known: ${[...KNOWN].join(', ')}` });
  const now = Date.now();
  const bound = (key: 'since' | 'until', fallback: number): number | string => {
    const text = params.get(key);
    if (!text) return fallback;
    return parseTimeBound(text, now) ?? `${key}: ${TIME_BOUND_HELP}`;
  };
  const since = bound('since', now - DEFAULT_SINCE_MS);
  const until = bound('until', now);
  if (typeof since === 'string') return sendJson(res, 400, { error: since });
  if (typeof until === 'string') return sendJson(res, 400, { error: until });
  if (until <= since) return sendJson(res, 400, { error: 'until must be later than since.' });
  const buckets = wholeNumber(params.get('buckets'), DEFAULT_BUCKETS, MAX_BUCKETS);
  const top = wholeNumber(params.get('top'), 10, 100);
  if (buckets === undefined) return sendJson(res, 400, { error: `buckets: a whole number from 1 to ${MAX_BUCKETS}.` });
  if (top === undefined) return sendJson(res, 400, { error: 'top: a whole number from 1 to 100.' });

  const servers = serverHealth(core);
  const audit = core.audit;
  if (!audit.summarize)
    return sendJson(res, 200, { servers, audit: null, note: 'The audit log is off (audit: none).' });
  const bucketMs = Math.max(1000, Math.ceil((until - since) / buckets / 1000) * 1000);
  try {
    const summary = await audit.summarize({ since, until, bucketMs, top });
    sendJson(res, 200, { servers, audit: summary });
  } catch (error) {
    sendJson(res, 503, {
      servers,
      error: `The audit log cannot be read: ${error instanceof Error ? error.message : String(error)}`,
    });
  }
}

function wholeNumber(text: string | null, fallback: number, max: number): number | undefined {
  if (text === null || text === '') return fallback;
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  return n >= 1 && n <= max ? n : undefined;
}

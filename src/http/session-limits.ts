// Limits on what one caller can hold open: sessions per grant, and requests in flight per session
// (for 2026-07-28 requests, per principal). Exceeding one is answered 429 with a JSON-RPC error
// that names the limit and its config key, so an operator can tell which one to raise.
import type { ServerResponse } from 'node:http';
import { DEFAULT_MAX_INFLIGHT_PER_SESSION, DEFAULT_MAX_SESSIONS_PER_GRANT } from '../config/schema.js';
import { ErrorCode, type JsonRpcId } from '../mcp/jsonrpc.js';
import { sendRpcError } from './respond.js';

export interface SessionLimitSettings {
  maxSessionsPerGrant: number;
  maxInflightPerSession: number;
}

export interface SessionLimits extends SessionLimitSettings {
  /** How many sessions a principal holds now, across the HTTP transports. */
  sessionsOf(principal: string): number;
}

export const SESSION_LIMIT_DEFAULTS: SessionLimitSettings = {
  maxSessionsPerGrant: DEFAULT_MAX_SESSIONS_PER_GRANT,
  maxInflightPerSession: DEFAULT_MAX_INFLIGHT_PER_SESSION,
};

/** How many of one transport's open sessions a principal holds (the transport's `sessionsOf`). */
export function countSessionsOf(
  sessions: Iterable<{ readonly session: { readonly principal: string } }>,
  principal: string,
): number {
  let n = 0;
  for (const s of sessions) if (s.session.principal === principal) n++;
  return n;
}

/** Why a principal holding `open` sessions may not have another. */
export function tooManySessions(open: number, max: number): string {
  return `Too many sessions: this grant already has ${open} open (limit ${max}, limits.max_sessions_per_grant); close one (DELETE) or let it expire.`;
}

/** Answers 429 when the principal already holds as many sessions as it may; true when it did. */
export function refuseNewSession(
  res: ServerResponse,
  limits: SessionLimits,
  principal: string,
  id: JsonRpcId | null,
): boolean {
  const open = limits.sessionsOf(principal);
  if (open < limits.maxSessionsPerGrant) return false;
  sendRpcError(res, 429, ErrorCode.InvalidRequest, tooManySessions(open, limits.maxSessionsPerGrant), id);
  return true;
}

/** Answers 429 when `inflight` requests are already running for this session; true when it did. */
export function refuseInflight(
  res: ServerResponse,
  limits: SessionLimits,
  inflight: number,
  id: JsonRpcId | null,
): boolean {
  if (inflight < limits.maxInflightPerSession) return false;
  sendRpcError(
    res,
    429,
    ErrorCode.InvalidRequest,
    `Too many requests in flight: ${inflight} are running for this session (limit ${limits.maxInflightPerSession}, limits.max_inflight_per_session); wait for one to finish.`,
    id,
  );
  return true;
}

// Logging levels (RFC 5424 severities, as MCP uses them) and who gets which message.
const SEVERITY: Record<string, number> = {
  debug: 0,
  info: 1,
  notice: 2,
  warning: 3,
  error: 4,
  critical: 5,
  alert: 6,
  emergency: 7,
};

/**
 * Whether a client asked for a message of this level. A legacy client that never set a level
 * gets everything (the 2025 default); a 2026-07-28 request gets messages only when its envelope
 * names a level.
 */
export function wantsLog(era: 'legacy' | 'modern', clientLevel: string | undefined, messageLevel: unknown): boolean {
  if (clientLevel === undefined) return era === 'legacy';
  const want = SEVERITY[clientLevel];
  const got = typeof messageLevel === 'string' ? SEVERITY[messageLevel] : undefined;
  if (want === undefined || got === undefined) return true;
  return got >= want;
}

// The one place a blocking decision becomes what the agent receives: a tool result it can read
// and adapt to (DESIGN section 1), never a protocol error — except for hidden tools, which answer
// exactly as a missing tool does so that their existence is not disclosed.
import { ErrorCode, type JsonObject, type JsonRpcErrorObject } from '../mcp/jsonrpc.js';

export type DecisionName = 'deny' | 'rate_limited' | 'approval_denied' | 'approval_timeout' | 'approval_pending';

export interface BlockedOutcome {
  decision: DecisionName;
  rule: string;
  reason: string;
  retryAfterS?: number;
  approvalId?: string;
}

const PREFIX: Record<DecisionName, string> = {
  deny: '[POLICY DENIED]',
  rate_limited: '[RATE LIMITED]',
  approval_denied: '[APPROVAL DENIED]',
  approval_timeout: '[APPROVAL TIMED OUT]',
  approval_pending: '[APPROVAL PENDING]',
};

/** `era` decides the result's dress: 2026-07-28 results must say `resultType`. */
export function blockedToolResult(b: BlockedOutcome, era: 'legacy' | 'modern'): JsonObject {
  const decision: JsonObject = { decision: b.decision, rule: b.rule, reason: b.reason };
  if (b.retryAfterS !== undefined) decision.retry_after_s = b.retryAfterS;
  if (b.approvalId !== undefined) decision.approval_id = b.approvalId;
  const result: JsonObject = {
    content: [{ type: 'text', text: `${PREFIX[b.decision]} ${b.reason}` }],
    isError: true,
    _meta: { 'gatehouse/decision': decision },
  };
  if (era === 'modern') result.resultType = 'complete';
  return result;
}

export function unknownToolError(name: unknown): JsonRpcErrorObject {
  return { code: ErrorCode.InvalidParams, message: `Unknown tool: ${typeof name === 'string' ? name : String(name)}` };
}

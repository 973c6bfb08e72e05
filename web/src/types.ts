// The shapes the admin API answers with (see src/http, src/approvals, src/audit and src/catalog).
export type Role = 'viewer' | 'policy_manager' | 'admin';

export interface CatalogTool {
  server: string;
  name: string;
  title?: string;
  description?: string;
  inputSchema?: unknown;
  annotations?: Record<string, unknown>;
  category: string;
  risk: string;
  reasons: string[];
  pin: 'pinned' | 'changed' | 'off';
}

export interface ServerCatalog {
  server: string;
  ok: boolean;
  error?: string;
  tools: CatalogTool[];
}

export interface ServerHealth {
  name: string;
  ready: boolean;
  era?: string;
  error?: string;
  policy: boolean;
}

export interface AuditSummary {
  since: number;
  until: number;
  bucket_ms: number;
  total: number;
  decisions: Record<string, number>;
  series: { t: number; total: number; decisions: Record<string, number> }[];
  top_tools: { server: string; tool: string; calls: number }[];
  top_denials: { server: string; tool: string; calls: number; decisions: Record<string, number> }[];
}

export interface Stats {
  servers: ServerHealth[];
  audit: AuditSummary | null;
  note?: string;
}

export interface AuditRecord {
  id: string;
  ts: number;
  request_id: string;
  server: string;
  subject: string;
  tool: string;
  grant: string;
  agent: string;
  session: string;
  decision: string;
  shadow_decision?: string;
  rule?: string;
  reason?: string;
  arguments?: unknown;
  category?: string;
  risk?: string;
  approval_id?: string;
  approver?: string;
  outcome?: string;
  error?: string;
  latency_ms: number;
  upstream_ms?: number;
}

export interface Approval {
  id: string;
  server: string;
  /** The tool's or prompt's name, or the resource's URI (see `subject`). */
  tool: string;
  /** Absent on approvals stored before it was recorded. */
  subject?: 'tool' | 'prompt' | 'resource';
  arguments: unknown;
  grant: string;
  agent: string;
  session: string;
  rule: string;
  reason: string;
  mode: string;
  created: number;
  expires: number;
  status: string;
  decided_by?: string;
  decision_reason?: string;
}

export interface Problem {
  path: string;
  message: string;
}

export interface Explanation {
  verdict: string;
  enforcedVerdict: string;
  rule: string;
  reason?: string;
  steps: { kind: string; effect?: string; decisive: boolean; note?: string; rule?: string; source?: string }[];
}

// The audit log as a person reads it in a terminal: one line per record, oldest at the top, so
// that a live tail continues the same table downwards.
import type { AuditRecord } from './record.js';

export const AUDIT_COLUMNS = ['TIME', 'SERVER', 'TOOL', 'GRANT', 'AGENT', 'DECISION', 'MS', 'RULE / REASON'] as const;

/** Widths of the fixed columns; the last one takes what it needs. */
const WIDTHS = [20, 12, 24, 14, 12, 16, 6];

export function auditHeader(): string {
  return formatCells([...AUDIT_COLUMNS]);
}

export function auditLine(r: AuditRecord): string {
  const decision = r.shadow_decision ? `${r.decision} (shadow: ${r.shadow_decision})` : r.decision;
  const outcome = r.outcome && r.outcome !== 'ok' ? ` [upstream ${r.outcome}${r.error ? `: ${r.error}` : ''}]` : '';
  const detail = [r.rule, r.reason].filter(Boolean).join(' ') + outcome;
  return formatCells([
    new Date(r.ts).toISOString().slice(0, 19) + 'Z',
    r.server,
    r.subject === 'tool' ? r.tool : `${r.subject}:${r.tool}`,
    r.grant,
    r.agent,
    decision,
    String(Math.round(r.latency_ms)),
    detail,
  ]);
}

function formatCells(cells: string[]): string {
  return cells
    .map((cell, i) => {
      const width = WIDTHS[i];
      if (width === undefined) return cell;
      const fitted = cell.length > width ? `${cell.slice(0, width - 1)}…` : cell;
      return fitted.padEnd(width);
    })
    .join(' ')
    .trimEnd();
}

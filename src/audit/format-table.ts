// The audit log as a person reads it in a terminal: one line per record, oldest at the top, so
// that a live tail continues the same table downwards. Most of what it prints was chosen by a client
// (tool names, arguments quoted in reasons, an upstream's error text): control characters are shown
// escaped, so that a record is always one line and no record drives the operator's terminal.
import type { AuditRecord } from './record.js';
import { escaped, HIDDEN_IN_TEXT, visibleJson } from '../util/visible.js';

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

/**
 * What the table escapes is what util/visible.ts escapes wherever an approval is shown: C0 and C1
 * controls and DEL (escape sequences, cursor moves, a newline that would print a row of its own),
 * line separators, bidirectional marks and overrides, and the characters a terminal shows as nothing
 * (zero-width, tags), in which an agent could hide text. Here C0 and C1 read `\n` or `\x1b`.
 */
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** The text with every unprintable character escaped: `\n`, `\x1b`, `\u202e`. */
export function printable(text: string): string {
  return text.replace(HIDDEN_IN_TEXT, (c) => {
    const code = c.charCodeAt(0);
    return NAMED[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : escaped(c));
  });
}

/**
 * JSON as the terminal should see it: JSON.stringify escapes C0 controls, not DEL, C1 (`\x9b` starts
 * a control sequence on some terminals), the line separators, bidirectional overrides or invisible
 * characters, which visibleJson escapes as `\uXXXX`: still the same JSON.
 */
export function printableJson(value: unknown, space?: number): string {
  return visibleJson(value, space);
}

function formatCells(cells: string[]): string {
  return cells
    .map((raw, i) => {
      const cell = printable(String(raw));
      const width = WIDTHS[i];
      if (width === undefined) return cell;
      const fitted = cell.length > width ? `${cell.slice(0, width - 1)}…` : cell;
      return fitted.padEnd(width);
    })
    .join(' ')
    .trimEnd();
}

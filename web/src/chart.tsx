// Calls over time as stacked bars in inline SVG: allowed, blocked, held for approval, rate limited.
import type { AuditSummary } from './types.js';

export const GROUPS = [
  { id: 'allowed', label: 'Allowed', decisions: ['allow'] },
  { id: 'blocked', label: 'Denied or hidden', decisions: ['deny', 'hidden', 'approval_denied'] },
  { id: 'approval', label: 'Approvals', decisions: ['approval_pending', 'approval_timeout', 'approval_withdrawn'] },
  { id: 'limited', label: 'Rate limited', decisions: ['rate_limited'] },
] as const;

const W = 720;
const H = 200;
const PAD = { left: 40, right: 8, top: 8, bottom: 22 };

function groupCount(decisions: Record<string, number>, group: (typeof GROUPS)[number]): number {
  return group.decisions.reduce((n, d) => n + (decisions[d] ?? 0), 0);
}

function label(t: number, span: number): string {
  const d = new Date(t);
  const pad = (n: number) => String(n).padStart(2, '0');
  return span > 2 * 86_400_000 ? `${d.getMonth() + 1}/${d.getDate()}` : `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function CallsChart({ summary }: { summary: AuditSummary }) {
  const { series } = summary;
  const max = Math.max(1, ...series.map((s) => s.total));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const barW = plotW / Math.max(1, series.length);
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const span = summary.until - summary.since;
  const every = Math.max(1, Math.ceil(series.length / 6));
  const described = GROUPS.map((g) => `${g.label} ${groupCount(summary.decisions, g)}`).join(', ');
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Calls over time: ${summary.total} in all. ${described}.`}>
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line class="grid" x1={PAD.left} x2={W - PAD.right} y1={y(max * f)} y2={y(max * f)} />
            <text class="axis" x={PAD.left - 4} y={y(max * f) + 4} text-anchor="end">
              {Math.round(max * f)}
            </text>
          </g>
        ))}
        {series.map((s, i) => {
          let base = 0;
          return (
            <g key={s.t}>
              <title>{`${label(s.t, span)}: ${s.total} calls`}</title>
              {GROUPS.map((g) => {
                const n = groupCount(s.decisions, g);
                if (n === 0) return null;
                const top = y(base + n);
                const rect = (
                  <rect
                    key={g.id}
                    class={`bar bar-${g.id}`}
                    x={PAD.left + i * barW + barW * 0.1}
                    width={Math.max(1, barW * 0.8)}
                    y={top}
                    height={y(base) - top}
                  />
                );
                base += n;
                return rect;
              })}
              {i % every === 0 && (
                <text class="axis" x={PAD.left + i * barW + barW / 2} y={H - 6} text-anchor="middle">
                  {label(s.t, span)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <figcaption class="legend">
        {GROUPS.map((g) => (
          <span key={g.id}>
            <i class={`swatch bar-${g.id}`} aria-hidden="true" /> {g.label} ({groupCount(summary.decisions, g)})
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

// Small pieces every page uses: badges, errors, loading, JSON, time.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { visibleJson } from './visible.js';

const RISK_CLASS: Record<string, string> = { low: 'ok', medium: 'warn', high: 'bad', critical: 'crit' };
const DECISION_CLASS: Record<string, string> = {
  allow: 'ok',
  deny: 'bad',
  hidden: 'muted',
  rate_limited: 'warn',
  approval_pending: 'info',
  approval_denied: 'bad',
  approval_timeout: 'warn',
  approval_withdrawn: 'muted',
  pending: 'info',
  approved: 'ok',
  denied: 'bad',
  expired: 'warn',
};

export function Badge({ kind, children, title }: { kind: string; children: ComponentChildren; title?: string }) {
  return (
    <span class={`badge badge-${kind}`} title={title}>
      {children}
    </span>
  );
}

export const RiskBadge = ({ risk }: { risk: string }) => (
  <Badge kind={RISK_CLASS[risk] ?? 'muted'} title={`risk: ${risk}`}>
    {risk}
  </Badge>
);

export const DecisionBadge = ({ decision }: { decision: string }) => (
  <Badge kind={DECISION_CLASS[decision] ?? 'muted'}>{decision.replace(/_/g, ' ')}</Badge>
);

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error instanceof Error ? error.message : String(error)}
    </p>
  );
}

export const Loading = ({ what }: { what: string }) => (
  <p class="muted" aria-live="polite">
    Loading {what}…
  </p>
);

export function Json({ value, label }: { value: unknown; label?: string }) {
  return (
    <pre class="json" aria-label={label} tabIndex={0}>
      {visibleJson(value, 2)}
    </pre>
  );
}

export function time(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function CopyButton({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      class="secondary"
      onClick={() => {
        void navigator.clipboard?.writeText(text).then(
          () => setDone(true),
          () => setDone(false),
        );
      }}
    >
      {done ? 'Copied' : label}
    </button>
  );
}

export function PageHeader({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <header class="page-header">
      <h1>{title}</h1>
      {children}
    </header>
  );
}

// The small form of a Custom rule: a reason, limits (max per window, scope) and deny conditions
// (CEL), checked as they are typed; the gateway's own problems for the rule are shown beside it.
import type { Condition, Limit, Rule } from '../policy-doc.js';
import type { Problem } from '../types.js';

const SCOPES = ['grant', 'agent', 'session', 'server', 'global'];
const WINDOW = /^(second|minute|hour|day|\d+|\d+(\.\d+)?[smhd])$/;

export function limitProblem(l: Limit): string | null {
  const max = Number(l.max);
  if (l.max === undefined || l.max === '' || !(max > 0)) return 'max must be a positive number';
  if (!WINDOW.test(String(l.window ?? ''))) return 'window: second, minute, hour, day, seconds, or 90s / 10m / 2h / 1d';
  return null;
}

export function CustomRuleForm({
  tool,
  rule,
  problems,
  onChange,
}: {
  tool: string;
  rule: Rule;
  problems: Problem[];
  onChange: (rule: Rule) => void;
}) {
  const limits = rule.limits ?? [];
  const conditions = rule.deny_if ?? [];
  const setLimit = (i: number, patch: Partial<Limit>) => {
    const next = limits.map((l, k) => (k === i ? { ...l, ...patch } : l));
    onChange({ ...rule, limits: next });
  };
  const setCondition = (i: number, patch: Partial<Condition>) =>
    onChange({ ...rule, deny_if: conditions.map((c, k) => (k === i ? { ...c, ...patch } : c)) });
  const num = (v: string): number | string => (/^\d+(\.\d+)?$/.test(v) ? Number(v) : v);
  const prefix = `custom-${tool}`;
  return (
    <fieldset class="custom" aria-label={`Custom rule for ${tool}`}>
      <legend>Custom rule</legend>
      <label>
        Reason shown when blocked
        <input
          value={rule.reason ?? ''}
          onInput={(e) => onChange({ ...rule, reason: (e.target as HTMLInputElement).value || undefined })}
        />
      </label>
      <h4>Limits</h4>
      {limits.map((l, i) => {
        const problem = limitProblem(l);
        const id = `${prefix}-limit-${i}`;
        return (
          <div class="row" key={i} role="group" aria-label={`Limit ${i + 1}`}>
            <label>
              Max
              <input
                id={`${id}-max`}
                inputMode="numeric"
                value={String(l.max ?? '')}
                aria-invalid={problem?.startsWith('max') ? true : undefined}
                onInput={(e) => setLimit(i, { max: num((e.target as HTMLInputElement).value) })}
              />
            </label>
            <label>
              per
              <input
                id={`${id}-window`}
                value={String(l.window ?? '')}
                aria-invalid={problem?.startsWith('window') ? true : undefined}
                onInput={(e) => setLimit(i, { window: num((e.target as HTMLInputElement).value) })}
              />
            </label>
            <label>
              Scope
              <select
                value={l.scope ?? 'grant'}
                onChange={(e) => setLimit(i, { scope: (e.target as HTMLSelectElement).value })}
              >
                {SCOPES.map((s) => (
                  <option key={s}>{s}</option>
                ))}
              </select>
            </label>
            <button
              type="button"
              class="link"
              aria-label={`Remove limit ${i + 1}`}
              onClick={() => onChange({ ...rule, limits: limits.filter((_, k) => k !== i) })}
            >
              Remove
            </button>
            {problem && (
              <p class="field-error" role="alert">
                {problem}
              </p>
            )}
          </div>
        );
      })}
      <button
        type="button"
        class="secondary"
        onClick={() => onChange({ ...rule, limits: [...limits, { max: 10, window: 'minute' }] })}
      >
        Add a limit
      </button>
      <h4>Deny when (CEL)</h4>
      {conditions.map((c, i) => (
        <div class="row" key={i} role="group" aria-label={`Condition ${i + 1}`}>
          <label class="grow">
            When
            <input
              value={c.when ?? ''}
              spellcheck={false}
              placeholder="args.amount > 100"
              aria-invalid={!c.when ? true : undefined}
              onInput={(e) => setCondition(i, { when: (e.target as HTMLInputElement).value })}
            />
          </label>
          <label class="grow">
            Reason
            <input
              value={c.reason ?? ''}
              onInput={(e) => setCondition(i, { reason: (e.target as HTMLInputElement).value || undefined })}
            />
          </label>
          <button
            type="button"
            class="link"
            aria-label={`Remove condition ${i + 1}`}
            onClick={() => onChange({ ...rule, deny_if: conditions.filter((_, k) => k !== i) })}
          >
            Remove
          </button>
          {!c.when && <p class="field-error">an expression is needed</p>}
        </div>
      ))}
      <button
        type="button"
        class="secondary"
        onClick={() => onChange({ ...rule, deny_if: [...conditions, { when: '' }] })}
      >
        Add a condition
      </button>
      {problems.length > 0 && (
        <ul class="problems" aria-label={`Problems of ${tool}`}>
          {problems.map((p, i) => (
            <li key={i}>
              <code>{p.path}</code> {p.message}
            </li>
          ))}
        </ul>
      )}
    </fieldset>
  );
}

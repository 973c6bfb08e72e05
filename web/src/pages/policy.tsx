// Policy builder: per server, each tool set to Allow, Deny, Hide, Require approval or Custom (limits
// and conditions in small forms), the policy text beside it and kept in sync, validation as you
// type (the gateway's own check: schema and CEL types), a test call explained under the draft, and
// save — which the gateway refuses, with every problem, if the policy is not valid.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, ApiError, enc, get, post } from '../api.js';
import { useCan } from '../app.js';
import {
  choiceOf,
  editPolicyText,
  literalName,
  parsePolicyText,
  pointerToken,
  toolKey,
  type Choice,
  type Format,
  type Rule,
} from '../policy-doc.js';
import { href } from '../router.js';
import type { CatalogTool, Explanation, Problem, ServerCatalog } from '../types.js';
import { Badge, ErrorBox, Loading, PageHeader, RiskBadge } from '../ui.js';
import { CustomRuleForm } from './policy-custom.js';

interface PolicyFile {
  server: string;
  source: 'file' | 'inline' | 'none';
  editable: boolean;
  path?: string;
  format: Format;
  text: string | null;
  policy: unknown;
  reload_error: string | null;
}

const CHOICES: [Choice, string][] = [
  ['default', 'Default'],
  ['allow', 'Allow'],
  ['deny', 'Deny'],
  ['hide', 'Hide'],
  ['require_approval', 'Require approval'],
  ['custom', 'Custom'],
];

export function PolicyPage({ params }: { params: URLSearchParams }) {
  const [servers, setServers] = useState<ServerCatalog[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const server = params.get('server') ?? servers?.[0]?.server ?? '';
  useEffect(() => {
    get<{ servers: ServerCatalog[] }>('catalog')
      .then((c) => setServers(c.servers))
      .catch(setError);
  }, []);
  return (
    <>
      <PageHeader title="Policy">
        {servers && (
          <label class="inline">
            Server{' '}
            <select
              value={server}
              onChange={(e) => (location.hash = href('policy', { server: (e.target as HTMLSelectElement).value }))}
            >
              {servers.map((s) => (
                <option key={s.server} value={s.server}>
                  {s.server}
                </option>
              ))}
            </select>
          </label>
        )}
      </PageHeader>
      <ErrorBox error={error} />
      {!servers && !error && <Loading what="servers" />}
      {servers && server && (
        <Builder key={server} server={server} tools={servers.find((s) => s.server === server)?.tools ?? []} />
      )}
    </>
  );
}

function Builder({ server, tools }: { server: string; tools: CatalogTool[] }) {
  const canSave = useCan('policy_manager');
  const [file, setFile] = useState<PolicyFile | null>(null);
  const [text, setText] = useState('');
  const [saved, setSaved] = useState('');
  const [problems, setProblems] = useState<Problem[]>([]);
  const [checking, setChecking] = useState(false);
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [custom, setCustom] = useState<string | null>(null);
  const [filter, setFilter] = useState('');

  useEffect(() => {
    get<PolicyFile>(`policy/${enc(server)}`)
      .then((f) => {
        setFile(f);
        const initial = f.text ?? (f.policy ? `${JSON.stringify(f.policy, null, 2)}\n` : '');
        setText(initial);
        setSaved(initial);
      })
      .catch(setError);
  }, [server]);

  const format: Format = file?.text === null ? 'json' : (file?.format ?? 'yaml');
  const parsed = useMemo(() => parsePolicyText(text, format), [text, format]);

  // Validation as you type: the gateway's own check, a moment after the last keystroke.
  const seq = useRef(0);
  useEffect(() => {
    if (!file) return;
    const n = ++seq.current;
    setChecking(true);
    const timer = setTimeout(() => {
      post<{ ok: boolean; problems: Problem[] }>('policy/validate', { text, format })
        .then((r) => n === seq.current && setProblems(r.problems))
        .catch((e: unknown) => n === seq.current && setError(e))
        .finally(() => n === seq.current && setChecking(false));
    }, 250);
    return () => clearTimeout(timer);
  }, [text, format, file]);

  if (error && !file) return <ErrorBox error={error} />;
  if (!file) return <Loading what="the policy" />;

  const policy = parsed.value ?? {};
  const edit = (change: Parameters<typeof editPolicyText>[2]) => {
    if (parsed.error) return setStatus('Fix the policy text first: the form cannot read it.');
    setText(editPolicyText(text, format, change));
    setStatus(null);
  };
  const choose = (tool: string, choice: Choice) => {
    if (parsed.error) return setStatus('Fix the policy text first: the form cannot read it.');
    const key = toolKey(tool);
    const hidden = (policy.hide ?? []).filter((p) => p !== key);
    let next = text;
    const apply = (change: Parameters<typeof editPolicyText>[2]) => (next = editPolicyText(next, format, change));
    if ((policy.hide ?? []).includes(key) && choice !== 'hide')
      apply(hidden.length > 0 ? { path: ['hide'], value: hidden } : { path: ['hide'], remove: true });
    const old: Rule = policy.tools?.[key] ?? {};
    if (choice === 'default' || choice === 'hide') apply({ path: ['tools', key], remove: true });
    if (choice === 'hide') apply({ path: ['hide'], value: [...hidden, key] });
    if (choice === 'allow') apply({ path: ['tools', key], value: {} });
    if (choice === 'deny')
      apply({ path: ['tools', key], value: { action: 'deny', ...(old.reason ? { reason: old.reason } : {}) } });
    if (choice === 'require_approval') apply({ path: ['tools', key], value: { action: 'require_approval' } });
    if (choice === 'custom') {
      const { action: _a, ...rest } = old;
      apply({ path: ['tools', key], value: { ...rest, limits: rest.limits ?? [{ max: 10, window: 'minute' }] } });
      setCustom(tool);
    }
    setText(next);
    setStatus(null);
  };

  const save = async () => {
    setStatus('Saving…');
    try {
      const r = await api<{ in_force: boolean; reload_error?: string }>('PUT', `policy/${enc(server)}`, { text });
      setSaved(text);
      setProblems([]);
      setStatus(r.in_force ? 'Saved. The new policy is in force.' : `Saved, but not in force: ${r.reload_error}`);
    } catch (e) {
      if (e instanceof ApiError && Array.isArray(e.body.problems)) setProblems(e.body.problems as Problem[]);
      setStatus(`Not saved: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  const words = filter.toLowerCase();
  const shownTools = tools.filter((t) => t.name.toLowerCase().includes(words));
  const dirty = text !== saved;
  // Pattern rules: keys that are not a tool's name written whole (see toolKey).
  const globs = Object.keys(policy.tools ?? {}).filter((k) => literalName(k) === undefined);
  return (
    <div class="builder">
      <section class="builder-form" aria-labelledby="rules-h">
        <h2 id="rules-h">Tools of {server}</h2>
        {file.source === 'inline' && (
          <p class="notice" role="status">
            This policy is written inline in the gateway's config file: it can be tried here but not saved. Move it to a
            file to edit it from the dashboard.
          </p>
        )}
        {file.source === 'none' && (
          <p class="notice" role="status">
            {server} has no policy: every call is forwarded. Add <code>policy: ./policies/{server}.yaml</code> to its
            entry in the config to edit it here.
          </p>
        )}
        {file.reload_error && (
          <p class="error" role="alert">
            The last reload was refused; the previous policy stays in force: {file.reload_error}
          </p>
        )}
        <label class="inline">
          When no rule matches{' '}
          <select
            value={policy.default ?? ''}
            onChange={(e) => edit({ path: ['default'], value: (e.target as HTMLSelectElement).value })}
          >
            <option value="allow">allow</option>
            <option value="deny">deny</option>
            {!policy.default && <option value="">(missing)</option>}
          </select>
        </label>
        <label class="inline">
          Find <input type="search" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
        </label>
        {globs.length > 0 && (
          <p class="small muted">Pattern rules ({globs.join(', ')}) apply too; edit them in the text.</p>
        )}
        <table class="rules">
          <thead>
            <tr>
              <th scope="col">Tool</th>
              <th scope="col">Risk</th>
              <th scope="col">Rule</th>
            </tr>
          </thead>
          <tbody>
            {shownTools.slice(0, 200).map((t) => {
              const choice = choiceOf(policy, t.name);
              const id = `rule-${t.name}`;
              return (
                <tr key={t.name} data-tool={t.name}>
                  <td>
                    <label for={id}>{t.name}</label>
                  </td>
                  <td>
                    <RiskBadge risk={t.risk} />
                  </td>
                  <td class="nowrap">
                    <select
                      id={id}
                      value={choice}
                      onChange={(e) => choose(t.name, (e.target as HTMLSelectElement).value as Choice)}
                    >
                      {CHOICES.map(([c, label]) => (
                        <option key={c} value={c}>
                          {c === 'default' ? `Default (${policy.default ?? '?'})` : label}
                        </option>
                      ))}
                    </select>
                    {choice === 'custom' && (
                      <button type="button" class="link" onClick={() => setCustom(custom === t.name ? null : t.name)}>
                        {custom === t.name ? 'Close' : 'Edit'}
                      </button>
                    )}
                    {custom === t.name && choice === 'custom' && (
                      <CustomRuleForm
                        tool={t.name}
                        rule={policy.tools?.[toolKey(t.name)] ?? {}}
                        problems={problems.filter((p) => p.path.startsWith(`/tools/${pointerToken(toolKey(t.name))}/`))}
                        onChange={(rule) => edit({ path: ['tools', toolKey(t.name)], value: rule })}
                      />
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {shownTools.length > 200 && <p class="small muted">Showing 200 of {shownTools.length}; narrow with Find.</p>}
        <ExplainBox server={server} tools={tools} text={text} format={format} />
      </section>
      <section class="builder-text" aria-labelledby="text-h">
        <h2 id="text-h">
          {file.path ? <code>{file.path}</code> : 'Policy'} <Badge kind="muted">{format}</Badge>
          {dirty && <Badge kind="warn">unsaved</Badge>}
        </h2>
        <label for="policy-text" class="sr-only">
          Policy text
        </label>
        <textarea
          id="policy-text"
          spellcheck={false}
          value={text}
          rows={24}
          aria-describedby="policy-problems"
          onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
        />
        <div id="policy-problems" aria-live="polite">
          {parsed.error && <p class="error">{parsed.error}</p>}
          {problems.length === 0 && !parsed.error && (
            <p class="ok-text">{checking ? 'Checking…' : '✓ Valid: the gateway would load this policy.'}</p>
          )}
          {problems.length > 0 && (
            <ul class="problems" aria-label="Problems">
              {problems.map((p, i) => (
                <li key={i}>
                  <code>{p.path || '/'}</code> {p.message}
                </li>
              ))}
            </ul>
          )}
        </div>
        {canSave && (
          <div class="actions">
            <button type="button" disabled={!file.editable || !dirty} onClick={() => void save()}>
              Save policy
            </button>
            <button type="button" class="secondary" disabled={!dirty} onClick={() => setText(saved)}>
              Discard changes
            </button>
          </div>
        )}
        {status && (
          <p class="status" role="status">
            {status}
          </p>
        )}
      </section>
    </div>
  );
}

function ExplainBox({
  server,
  tools,
  text,
  format,
}: {
  server: string;
  tools: CatalogTool[];
  text: string;
  format: Format;
}) {
  const [tool, setTool] = useState(tools[0]?.name ?? '');
  const [args, setArgs] = useState('{}');
  const [result, setResult] = useState<Explanation | null>(null);
  const [error, setError] = useState<unknown>(null);
  const run = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setResult(null);
    let parsedArgs: unknown;
    try {
      parsedArgs = JSON.parse(args || '{}');
    } catch {
      return setError('The arguments are not valid JSON.');
    }
    try {
      const r = await post<{ ok: boolean; problems: Problem[]; explanation?: Explanation }>('policy/validate', {
        text,
        format,
        explain: { server, tool, args: parsedArgs },
      });
      if (!r.ok) return setError('The draft policy has problems: fix them to explain a call.');
      setResult(r.explanation ?? null);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="card explain" onSubmit={run} aria-labelledby="explain-h">
      <h2 id="explain-h">Try a call under this draft</h2>
      <label>
        Tool
        <input list="explain-tools" value={tool} onInput={(e) => setTool((e.target as HTMLInputElement).value)} />
        <datalist id="explain-tools">
          {tools.slice(0, 500).map((t) => (
            <option key={t.name} value={t.name} />
          ))}
        </datalist>
      </label>
      <label>
        Arguments (JSON)
        <textarea
          rows={3}
          spellcheck={false}
          value={args}
          onInput={(e) => setArgs((e.target as HTMLTextAreaElement).value)}
        />
      </label>
      <button type="submit" class="secondary">
        Explain
      </button>
      <ErrorBox error={error} />
      {result && (
        <div class="explanation" role="status">
          <p>
            Verdict: <strong data-verdict={result.verdict}>{result.verdict.replace(/_/g, ' ')}</strong> by{' '}
            <code>{result.rule}</code>
            {result.reason ? ` — ${result.reason}` : ''}
          </p>
          <ol class="small">
            {result.steps.map((s, i) => (
              <li key={i} class={s.decisive ? 'decisive' : undefined}>
                {s.kind}
                {s.rule ? ` ${s.rule}` : ''}
                {s.source ? `: ${s.source}` : ''}
                {s.effect && s.effect !== 'none' ? ` → ${s.effect}` : ''}
                {s.note ? ` (${s.note})` : ''}
              </li>
            ))}
          </ol>
        </div>
      )}
    </form>
  );
}

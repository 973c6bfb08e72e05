// Catalog: every tool with its category, risk, the reasons, and its pin. A changed pin shows the
// diff of its definition and, for a policy manager, a button to accept it. With hundreds of tools
// the list is filtered in memory and only a page of rows is in the DOM at a time.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { enc, get, post } from '../api.js';
import { useCan } from '../app.js';
import type { CatalogTool, ServerCatalog } from '../types.js';
import { Badge, ErrorBox, Loading, PageHeader, RiskBadge } from '../ui.js';
import { visibleText } from '../visible.js';

const PAGE = 100;

export function CatalogPage({ params }: { params: URLSearchParams }) {
  const [servers, setServers] = useState<ServerCatalog[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [filter, setFilter] = useState('');
  const [server, setServer] = useState(params.get('server') ?? '');
  const [risk, setRisk] = useState('');
  const [shown, setShown] = useState(PAGE);
  const [open, setOpen] = useState<string | null>(null);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    get<{ servers: ServerCatalog[] }>('catalog')
      .then((c) => setServers(c.servers))
      .catch(setError);
  }, [reload]);

  const all = useMemo(() => servers?.flatMap((s) => s.tools) ?? [], [servers]);
  const matching = useMemo(() => {
    const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
    return all.filter(
      (t) =>
        (!server || t.server === server) &&
        (!risk || t.risk === risk || (risk === 'changed' && t.pin === 'changed')) &&
        words.every((w) => `${t.server} ${t.name} ${t.category} ${t.description ?? ''}`.toLowerCase().includes(w)),
    );
  }, [all, filter, server, risk]);
  useEffect(() => setShown(PAGE), [filter, server, risk]);

  const changed = all.filter((t) => t.pin === 'changed').length;
  return (
    <>
      <PageHeader title="Catalog">
        <span class="muted" aria-live="polite">
          {servers ? `${matching.length} of ${all.length} tools` : ''}
          {changed > 0 ? ` · ${changed} changed since pinned` : ''}
        </span>
      </PageHeader>
      <ErrorBox error={error} />
      {servers
        ?.filter((s) => !s.ok)
        .map((s) => (
          <p key={s.server} class="error" role="alert">
            {s.server}: {s.error}
          </p>
        ))}
      <div class="filters" role="search">
        <label>
          Filter
          <input
            type="search"
            value={filter}
            placeholder="name, category, description"
            onInput={(e) => setFilter((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          Server
          <select value={server} onChange={(e) => setServer((e.target as HTMLSelectElement).value)}>
            <option value="">All servers</option>
            {servers?.map((s) => (
              <option key={s.server} value={s.server}>
                {s.server}
              </option>
            ))}
          </select>
        </label>
        <label>
          Risk
          <select value={risk} onChange={(e) => setRisk((e.target as HTMLSelectElement).value)}>
            <option value="">Any</option>
            <option value="critical">Critical</option>
            <option value="high">High</option>
            <option value="medium">Medium</option>
            <option value="low">Low</option>
            <option value="changed">Pin changed</option>
          </select>
        </label>
      </div>
      {!servers && !error && <Loading what="the catalog" />}
      {servers && (
        <table class="tools">
          <thead>
            <tr>
              <th scope="col">Tool</th>
              <th scope="col">Category</th>
              <th scope="col">Risk</th>
              <th scope="col">Pin</th>
              <th scope="col" class="hide-narrow">
                Why
              </th>
            </tr>
          </thead>
          <tbody>
            {matching.slice(0, shown).map((t) => {
              const key = `${t.server}/${t.name}`;
              return (
                <ToolRow
                  key={key}
                  tool={t}
                  open={open === key}
                  toggle={() => setOpen(open === key ? null : key)}
                  onAccepted={() => setReload((n) => n + 1)}
                />
              );
            })}
          </tbody>
        </table>
      )}
      {matching.length > shown && (
        <p>
          <button type="button" class="secondary" onClick={() => setShown(shown + PAGE)}>
            Show {Math.min(PAGE, matching.length - shown)} more ({matching.length - shown} not shown)
          </button>
        </p>
      )}
    </>
  );
}

function ToolRow({
  tool,
  open,
  toggle,
  onAccepted,
}: {
  tool: CatalogTool;
  open: boolean;
  toggle: () => void;
  onAccepted: () => void;
}) {
  const id = `tool-${tool.server}-${tool.name}`.replace(/[^A-Za-z0-9_-]/g, '_');
  return (
    <>
      <tr class={tool.pin === 'changed' ? 'row-changed' : undefined} data-tool={tool.name}>
        <td>
          <button type="button" class="link" aria-expanded={open} aria-controls={id} onClick={toggle}>
            <span class="muted">{tool.server}/</span>
            {visibleText(tool.name)}
          </button>
        </td>
        <td>
          <Badge kind="muted">{tool.category}</Badge>
        </td>
        <td>
          <RiskBadge risk={tool.risk} />
        </td>
        <td>
          <Badge kind={tool.pin === 'changed' ? 'bad' : tool.pin === 'pinned' ? 'ok' : 'muted'}>{tool.pin}</Badge>
        </td>
        <td class="hide-narrow small">{tool.reasons[0] ?? ''}</td>
      </tr>
      {open && (
        <tr id={id} class="details">
          <td colSpan={5}>
            <ToolDetails tool={tool} onAccepted={onAccepted} />
          </td>
        </tr>
      )}
    </>
  );
}

function ToolDetails({ tool, onAccepted }: { tool: CatalogTool; onAccepted: () => void }) {
  const canAccept = useCan('policy_manager');
  const [diff, setDiff] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (tool.pin !== 'changed') return;
    get<{ changes: { tool: string; diff: string }[] }>(`pins/${enc(tool.server)}/diff`)
      .then((d) => setDiff(d.changes.find((c) => c.tool === tool.name)?.diff ?? 'No change is waiting.'))
      .catch(setError);
  }, [tool.server, tool.name, tool.pin]);
  const accept = () =>
    post(`pins/${enc(tool.server)}/accept/${enc(tool.name)}`)
      .then(onAccepted)
      .catch(setError);
  return (
    <div class="tool-details">
      {tool.description && <p>{tool.description}</p>}
      <h3>Why {tool.category}</h3>
      <ul>
        {tool.reasons.map((r) => (
          <li key={r}>{r}</li>
        ))}
      </ul>
      {tool.annotations && (
        <p class="small">
          Annotations (evidence, not truth):{' '}
          {Object.entries(tool.annotations)
            .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
            .join(', ')}
        </p>
      )}
      <ErrorBox error={error} />
      {tool.pin === 'changed' && (
        <section aria-label={`Changes to ${tool.name} since it was pinned`}>
          <h3>Definition changed since pinned</h3>
          <p class="small">Calls to this tool are blocked until the change is accepted.</p>
          {diff === null ? <Loading what="the diff" /> : <Diff text={diff} />}
          {canAccept && (
            <button type="button" onClick={accept}>
              Accept the new definition
            </button>
          )}
        </section>
      )}
    </div>
  );
}

function Diff({ text }: { text: string }) {
  return (
    <pre class="diff" tabIndex={0} aria-label="Definition diff">
      {text.split('\n').map((line, i) => {
        const kind =
          line.startsWith('+') && !line.startsWith('+++')
            ? 'add'
            : line.startsWith('-') && !line.startsWith('---')
              ? 'del'
              : line.startsWith('@@')
                ? 'hunk'
                : '';
        return (
          <span key={i} class={kind ? `diff-${kind}` : undefined}>
            {line}
            {'\n'}
          </span>
        );
      })}
    </pre>
  );
}

// Audit log: filters, pages newest first (the API's cursor: never more than a page in memory), a
// live tail that polls for records stored since, and any record's full detail.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, q } from '../api.js';
import type { AuditRecord } from '../types.js';
import { DecisionBadge, ErrorBox, Json, Loading, PageHeader, time } from '../ui.js';

const FIELDS = ['server', 'tool', 'grant', 'agent', 'decision', 'since', 'until'] as const;
type Filters = Record<(typeof FIELDS)[number], string>;
const DECISIONS = [
  'allow',
  'deny',
  'hidden',
  'rate_limited',
  'approval_pending',
  'approval_denied',
  'approval_timeout',
  'approval_withdrawn',
];
const PAGE = 50;
const TAIL_MS = 2000;

interface Page {
  records: AuditRecord[];
  next_cursor: string | null;
}

export function AuditPage({ params }: { params: URLSearchParams }) {
  const initial = Object.fromEntries(FIELDS.map((f) => [f, params.get(f) ?? ''])) as Filters;
  const [draft, setDraft] = useState<Filters>(initial);
  const [filters, setFilters] = useState<Filters>(initial);
  /** Cursors of the pages before this one: Newer goes back one. */
  const [cursors, setCursors] = useState<(string | undefined)[]>([]);
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const [page, setPage] = useState<Page | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [tail, setTail] = useState(false);
  const [tailed, setTailed] = useState<AuditRecord[]>([]);
  const lastId = useRef<string | null>(null);

  useEffect(() => {
    let live = true;
    setPage(null);
    get<Page>(`audit${q({ ...filters, limit: PAGE, cursor })}`)
      .then((p) => live && (setPage(p), setError(null)))
      .catch((e: unknown) => live && setError(e));
    return () => {
      live = false;
    };
  }, [filters, cursor]);

  useEffect(() => {
    if (!tail) return;
    let live = true;
    const { since: _s, until: _u, ...textFilters } = filters;
    const poll = async () => {
      try {
        const r = await get<{ records: AuditRecord[]; last_id: string }>(
          `audit/tail${q({ ...textFilters, after: lastId.current ?? undefined })}`,
        );
        if (!live) return;
        if (lastId.current !== null && r.records.length > 0)
          setTailed((old) => [...[...r.records].reverse(), ...old].slice(0, 500));
        lastId.current = r.last_id;
        setError(null);
      } catch (e) {
        if (live) setError(e);
      }
    };
    void poll();
    const timer = setInterval(() => void poll(), TAIL_MS);
    return () => {
      live = false;
      clearInterval(timer);
      lastId.current = null;
    };
  }, [tail, filters]);

  const apply = (e: Event) => {
    e.preventDefault();
    setCursors([]);
    setCursor(undefined);
    setTailed([]);
    setFilters({ ...draft });
    const shown = Object.fromEntries(Object.entries(draft).filter(([, v]) => v));
    history.replaceState(null, '', `#/audit${q(shown)}`);
  };
  const rows = cursor === undefined && tail ? [...tailed, ...(page?.records ?? [])] : (page?.records ?? []);
  const pageNo = cursors.length + 1;
  return (
    <>
      <PageHeader title="Audit log">
        <label class="inline">
          <input type="checkbox" checked={tail} onChange={(e) => setTail((e.target as HTMLInputElement).checked)} />{' '}
          Live tail
        </label>
      </PageHeader>
      <form class="filters" onSubmit={apply} role="search" aria-label="Filter the audit log">
        {(['server', 'tool', 'grant', 'agent'] as const).map((f) => (
          <label key={f}>
            {f[0]!.toUpperCase() + f.slice(1)}
            <input
              value={draft[f]}
              onInput={(e) => setDraft({ ...draft, [f]: (e.target as HTMLInputElement).value })}
            />
          </label>
        ))}
        <label>
          Decision
          <select
            value={draft.decision}
            onChange={(e) => setDraft({ ...draft, decision: (e.target as HTMLSelectElement).value })}
          >
            <option value="">Any</option>
            {DECISIONS.map((d) => (
              <option key={d} value={d}>
                {d.replace(/_/g, ' ')}
              </option>
            ))}
          </select>
        </label>
        <label>
          Since
          <input
            value={draft.since}
            placeholder="1h, 7d or 2026-03-02T10:00Z"
            onInput={(e) => setDraft({ ...draft, since: (e.target as HTMLInputElement).value })}
          />
        </label>
        <label>
          Until
          <input
            value={draft.until}
            placeholder="ISO time or duration ago"
            onInput={(e) => setDraft({ ...draft, until: (e.target as HTMLInputElement).value })}
          />
        </label>
        <button type="submit">Apply</button>
      </form>
      <ErrorBox error={error} />
      {!page && !error && <Loading what="records" />}
      {page && (
        <>
          <table class="audit">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Tool</th>
                <th scope="col">Decision</th>
                <th scope="col" class="hide-narrow">
                  Agent
                </th>
                <th scope="col" class="hide-narrow">
                  Reason
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <AuditRow
                  key={r.id}
                  record={r}
                  open={open === r.id}
                  toggle={() => setOpen(open === r.id ? null : r.id)}
                />
              ))}
            </tbody>
          </table>
          {rows.length === 0 && <p class="muted">No record matches.</p>}
          <nav class="pager" aria-label="Pages">
            <button
              type="button"
              class="secondary"
              disabled={cursors.length === 0}
              onClick={() => {
                setCursor(cursors.at(-1));
                setCursors(cursors.slice(0, -1));
              }}
            >
              ← Newer
            </button>
            <span aria-live="polite">Page {pageNo}</span>
            <button
              type="button"
              class="secondary"
              disabled={!page.next_cursor}
              onClick={() => {
                setCursors([...cursors, cursor]);
                setCursor(page.next_cursor ?? undefined);
              }}
            >
              Older →
            </button>
          </nav>
        </>
      )}
    </>
  );
}

function AuditRow({ record: r, open, toggle }: { record: AuditRecord; open: boolean; toggle: () => void }) {
  return (
    <>
      <tr data-record={r.id}>
        <td class="nowrap">
          <button
            type="button"
            class="link"
            aria-expanded={open}
            onClick={toggle}
            aria-label={`Record ${r.id} details`}
          >
            {time(r.ts)}
          </button>
        </td>
        <td>
          <span class="muted">{r.server}/</span>
          {r.tool}
        </td>
        <td>
          <DecisionBadge decision={r.decision} />
          {r.shadow_decision && <span class="small muted"> (shadow: {r.shadow_decision})</span>}
        </td>
        <td class="hide-narrow">{r.agent}</td>
        <td class="hide-narrow small">{r.reason ?? (r.outcome ? `upstream: ${r.outcome}` : '')}</td>
      </tr>
      {open && (
        <tr class="details">
          <td colSpan={5}>
            <Json value={r} label={`Record ${r.id}`} />
          </td>
        </tr>
      )}
    </>
  );
}

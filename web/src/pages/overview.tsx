// Overview: the servers and their health, calls and decisions over time, top tools and top denials.
import { useEffect, useState } from 'preact/hooks';
import { get, q } from '../api.js';
import { CallsChart } from '../chart.js';
import { href } from '../router.js';
import type { Stats } from '../types.js';
import { Badge, ErrorBox, Loading, PageHeader } from '../ui.js';

const RANGES = [
  ['1h', 'Last hour', 60],
  ['24h', 'Last 24 hours', 48],
  ['7d', 'Last 7 days', 56],
  ['30d', 'Last 30 days', 60],
] as const;

export function OverviewPage() {
  const [range, setRange] = useState<string>('24h');
  const [stats, setStats] = useState<Stats | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const buckets = RANGES.find((r) => r[0] === range)?.[2] ?? 48;
    let live = true;
    const load = () =>
      get<Stats>(`stats${q({ since: range, buckets })}`)
        .then((s) => live && (setStats(s), setError(null)))
        .catch((e: unknown) => live && setError(e));
    void load();
    const timer = setInterval(load, 15_000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [range]);

  return (
    <>
      <PageHeader title="Overview">
        <label class="inline">
          Range{' '}
          <select value={range} onChange={(e) => setRange((e.target as HTMLSelectElement).value)}>
            {RANGES.map(([id, text]) => (
              <option key={id} value={id}>
                {text}
              </option>
            ))}
          </select>
        </label>
      </PageHeader>
      <ErrorBox error={error} />
      {!stats && !error && <Loading what="the overview" />}
      {stats && (
        <div class="grid">
          <section class="card" aria-labelledby="servers-h">
            <h2 id="servers-h">Servers</h2>
            <ul class="servers">
              {stats.servers.map((s) => (
                <li key={s.name}>
                  <a href={href('catalog', { server: s.name })}>{s.name}</a>{' '}
                  <Badge kind={s.ready ? 'ok' : 'bad'}>{s.ready ? 'ready' : 'not ready'}</Badge>{' '}
                  {s.era && <Badge kind="muted">{s.era}</Badge>}{' '}
                  {!s.policy && (
                    <Badge kind="warn" title="Every call to this server is forwarded">
                      no policy
                    </Badge>
                  )}
                  {s.error && <div class="small error">{s.error}</div>}
                </li>
              ))}
            </ul>
          </section>
          <section class="card wide" aria-labelledby="calls-h">
            <h2 id="calls-h">Calls and decisions{stats.audit ? ` · ${stats.audit.total} calls` : ''}</h2>
            {stats.audit ? <CallsChart summary={stats.audit} /> : <p class="muted">{stats.note}</p>}
          </section>
          {stats.audit && (
            <>
              <section class="card" aria-labelledby="top-h">
                <h2 id="top-h">Top tools</h2>
                <TopTable rows={stats.audit.top_tools} empty="No calls in this range." />
              </section>
              <section class="card" aria-labelledby="denied-h">
                <h2 id="denied-h">Top denials</h2>
                <TopTable rows={stats.audit.top_denials} empty="Nothing was blocked in this range." />
              </section>
            </>
          )}
        </div>
      )}
    </>
  );
}

function TopTable({ rows, empty }: { rows: { server: string; tool: string; calls: number }[]; empty: string }) {
  if (rows.length === 0) return <p class="muted">{empty}</p>;
  return (
    <table class="compact">
      <thead>
        <tr>
          <th scope="col">Tool</th>
          <th scope="col" class="num">
            Calls
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={`${r.server}/${r.tool}`}>
            <td>
              <a href={href('audit', { server: r.server, tool: r.tool })}>
                <span class="muted">{r.server}/</span>
                {r.tool}
              </a>
            </td>
            <td class="num">{r.calls}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

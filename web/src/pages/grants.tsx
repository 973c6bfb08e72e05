// Grants: the credentials agents use. Create one (its token is shown once, with a ready client
// configuration for Claude Desktop, Cursor and VS Code), list them, revoke one.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, enc, get, post } from '../api.js';
import { useCan } from '../app.js';
import type { ServerCatalog } from '../types.js';
import { Badge, CopyButton, ErrorBox, Loading, PageHeader, time } from '../ui.js';

interface GrantView {
  name: string;
  agent: string;
  servers: string[];
  labels?: Record<string, string>;
  source?: string;
  status: 'active' | 'expired' | 'revoked' | string;
  created?: string;
  expires?: string;
  revoked?: string;
}

export function GrantsPage() {
  const canEdit = useCan('admin');
  const [grants, setGrants] = useState<GrantView[] | null>(null);
  const [servers, setServers] = useState<string[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<{ name: string; token: string; servers: string[] } | null>(null);
  const [reload, setReload] = useState(0);
  useEffect(() => {
    get<{ grants: GrantView[] }>('grants')
      .then((g) => setGrants(g.grants))
      .catch(setError);
    get<{ servers: ServerCatalog[] }>('catalog')
      .then((c) => setServers(c.servers.map((s) => s.server)))
      .catch(() => undefined);
  }, [reload]);
  const revoke = async (name: string) => {
    if (!confirm(`Revoke the grant "${name}"? Agents using its token are refused from now on.`)) return;
    try {
      await api('DELETE', `grants/${enc(name)}`);
      setReload((n) => n + 1);
    } catch (e) {
      setError(e);
    }
  };
  const missing = error instanceof ApiError && error.status === 404;
  return (
    <>
      <PageHeader title="Grants" />
      {missing ? (
        <p class="notice">
          This gateway does not manage grants through its API; use “gatehouse grants” on the command line.
        </p>
      ) : (
        <ErrorBox error={error} />
      )}
      {created && <CreatedGrant {...created} onClose={() => setCreated(null)} />}
      {canEdit && !missing && (
        <CreateGrant
          servers={servers}
          onCreated={(g) => {
            setCreated(g);
            setReload((n) => n + 1);
          }}
        />
      )}
      {!grants && !error && <Loading what="grants" />}
      {grants && (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Agent</th>
              <th scope="col">Servers</th>
              <th scope="col" class="hide-narrow">
                Expires
              </th>
              {canEdit && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {grants.map((g) => (
              <tr key={g.name} data-grant={g.name}>
                <td>
                  {g.name} {g.source && <Badge kind="muted">{g.source}</Badge>}{' '}
                  <Badge kind={g.status === 'active' ? 'ok' : 'bad'}>{g.status}</Badge>
                </td>
                <td>{g.agent}</td>
                <td>{g.servers.join(', ')}</td>
                <td class="hide-narrow">{g.expires ? time(Date.parse(g.expires)) : 'never'}</td>
                {canEdit && (
                  <td>
                    {g.source !== 'config' && g.status !== 'revoked' && (
                      <button type="button" class="danger" onClick={() => void revoke(g.name)}>
                        Revoke
                      </button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {grants?.length === 0 && <p class="muted">No grant yet.</p>}
    </>
  );
}

function CreateGrant({
  servers,
  onCreated,
}: {
  servers: string[];
  onCreated: (g: { name: string; token: string; servers: string[] }) => void;
}) {
  const [name, setName] = useState('');
  const [agent, setAgent] = useState('');
  const [chosen, setChosen] = useState<string[]>([]);
  const [expires, setExpires] = useState('');
  const [error, setError] = useState<unknown>(null);
  const nameOk = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const r = await post<{ token: string }>('grants', {
        name,
        servers: chosen,
        ...(agent ? { agent } : {}),
        ...(expires ? { expires } : {}),
      });
      onCreated({ name, token: r.token, servers: chosen });
      setName('');
      setAgent('');
      setChosen([]);
      setExpires('');
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="card create-grant" onSubmit={submit} aria-labelledby="create-grant-h">
      <h2 id="create-grant-h">New grant</h2>
      <div class="row">
        <label>
          Name
          <input
            value={name}
            required
            aria-invalid={name !== '' && !nameOk ? true : undefined}
            onInput={(e) => setName((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          Agent
          <input
            value={agent}
            placeholder="(the name)"
            onInput={(e) => setAgent((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          Expires
          <input
            value={expires}
            placeholder="30d, or 2026-12-31"
            onInput={(e) => setExpires((e.target as HTMLInputElement).value)}
          />
        </label>
      </div>
      {name !== '' && !nameOk && (
        <p class="field-error">Letters, digits, dot, - and _ (not first); up to 63 characters.</p>
      )}
      <fieldset>
        <legend>Servers it may use</legend>
        {servers.map((s) => (
          <label key={s} class="inline">
            <input
              type="checkbox"
              checked={chosen.includes(s)}
              onChange={(e) =>
                setChosen((e.target as HTMLInputElement).checked ? [...chosen, s] : chosen.filter((c) => c !== s))
              }
            />{' '}
            {s}
          </label>
        ))}
      </fieldset>
      <ErrorBox error={error} />
      <button type="submit" disabled={!nameOk || chosen.length === 0}>
        Create grant
      </button>
    </form>
  );
}

/** Client configurations for the new token: the token appears here once and nowhere else. */
export function clientSnippets(token: string, servers: string[]): { id: string; label: string; text: string }[] {
  const one = servers.length === 1 ? servers[0]! : undefined;
  const url = `${location.origin}/mcp${one ? `/${one}` : ''}`;
  const key = one ? `gatehouse-${one}` : 'gatehouse';
  const auth = `Bearer ${token}`;
  return [
    {
      id: 'claude',
      label: 'Claude Desktop (claude_desktop_config.json)',
      text: JSON.stringify(
        {
          mcpServers: {
            [key]: { command: 'npx', args: ['-y', 'mcp-remote', url, '--header', `Authorization:${auth}`] },
          },
        },
        null,
        2,
      ),
    },
    {
      id: 'cursor',
      label: 'Cursor (.cursor/mcp.json)',
      text: JSON.stringify({ mcpServers: { [key]: { url, headers: { Authorization: auth } } } }, null, 2),
    },
    {
      id: 'vscode',
      label: 'VS Code (.vscode/mcp.json)',
      text: JSON.stringify({ servers: { [key]: { type: 'http', url, headers: { Authorization: auth } } } }, null, 2),
    },
  ];
}

function CreatedGrant({
  name,
  token,
  servers,
  onClose,
}: {
  name: string;
  token: string;
  servers: string[];
  onClose: () => void;
}) {
  const snippets = clientSnippets(token, servers);
  const [tab, setTab] = useState(snippets[0]!.id);
  const shown = snippets.find((s) => s.id === tab)!;
  return (
    <section class="card created" role="status" aria-labelledby="created-h">
      <h2 id="created-h">Grant “{name}” created</h2>
      <p>
        Its token is shown <strong>only now</strong>; Gatehouse keeps only a hash of it.
      </p>
      <p class="token">
        <code data-token>{token}</code> <CopyButton text={token} label="Copy token" />
      </p>
      <div role="tablist" aria-label="Client configuration">
        {snippets.map((s) => (
          <button
            key={s.id}
            type="button"
            role="tab"
            aria-selected={tab === s.id}
            class="tab"
            onClick={() => setTab(s.id)}
          >
            {s.label}
          </button>
        ))}
      </div>
      <pre class="json" role="tabpanel" aria-label={shown.label} tabIndex={0}>
        {shown.text}
      </pre>
      <CopyButton text={shown.text} label="Copy configuration" />{' '}
      <button type="button" class="secondary" onClick={onClose}>
        Done
      </button>
    </section>
  );
}

// Approvals: the pending calls, live (the admin API's event stream, read with fetch because
// EventSource cannot send the token), each with its arguments, approved or denied with a reason.
import { useEffect, useState } from 'preact/hooks';
import { enc, followEvents, post } from '../api.js';
import { useCan } from '../app.js';
import type { Approval } from '../types.js';
import { DecisionBadge, ErrorBox, Json, PageHeader, time } from '../ui.js';
import { visibleText as v } from '../visible.js';

type Live = 'connecting' | 'live' | 'reconnecting';

export function ApprovalsPage() {
  const [items, setItems] = useState<Map<string, Approval>>(new Map());
  const [live, setLive] = useState<Live>('connecting');
  useEffect(() => {
    const abort = new AbortController();
    let wait = 500;
    const run = async () => {
      while (!abort.signal.aborted) {
        try {
          await followEvents(
            'approvals/events',
            (event, data) => {
              setLive('live');
              wait = 500;
              if (event === 'snapshot') {
                const list = (data as { approvals: Approval[] }).approvals;
                setItems(new Map(list.map((a) => [a.id, a])));
              } else if (event === 'approval') {
                const a = data as Approval;
                setItems((old) => new Map(old).set(a.id, a));
              }
            },
            abort.signal,
          );
        } catch {
          // the stream broke or was refused: try again shortly
        }
        if (abort.signal.aborted) return;
        setLive('reconnecting');
        await new Promise((r) => setTimeout(r, wait));
        wait = Math.min(wait * 2, 10_000);
      }
    };
    void run();
    return () => abort.abort();
  }, []);
  const all = [...items.values()].sort((a, b) => b.created - a.created);
  const pending = all.filter((a) => a.status === 'pending');
  const decided = all.filter((a) => a.status !== 'pending').slice(0, 20);
  return (
    <>
      <PageHeader title="Approvals">
        <span class={`live live-${live}`} aria-live="polite">
          {live === 'live' ? '● Live' : live === 'connecting' ? 'Connecting…' : 'Reconnecting…'}
        </span>
      </PageHeader>
      <section aria-labelledby="pending-h">
        <h2 id="pending-h">Pending ({pending.length})</h2>
        {pending.length === 0 && <p class="muted">No call is waiting for a decision.</p>}
        <ul class="approvals">
          {pending.map((a) => (
            <ApprovalCard key={a.id} approval={a} />
          ))}
        </ul>
      </section>
      {decided.length > 0 && (
        <section aria-labelledby="decided-h">
          <h2 id="decided-h">Decided since this page opened</h2>
          <ul class="approvals">
            {decided.map((a) => (
              <ApprovalCard key={a.id} approval={a} />
            ))}
          </ul>
        </section>
      )}
    </>
  );
}

function ApprovalCard({ approval: a }: { approval: Approval }) {
  const canAnswer = useCan('policy_manager');
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const answer = async (approve: boolean) => {
    setBusy(true);
    setError(null);
    try {
      await post(
        `approvals/${enc(a.id)}/${approve ? 'approve' : 'deny'}`,
        reason.trim() ? { reason: reason.trim() } : {},
      );
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const reasonId = `reason-${a.id}`;
  return (
    <li
      class="card approval"
      data-approval={a.id}
      aria-label={`${a.server}/${a.subject && a.subject !== 'tool' ? `${a.subject} ` : ''}${v(a.tool)} by ${v(a.agent)}`}
    >
      <div class="approval-head">
        <strong>
          <span class="muted">{a.server}/</span>
          {a.subject && a.subject !== 'tool' && <span class="subject">{a.subject} </span>}
          {v(a.tool)}
        </strong>{' '}
        <DecisionBadge decision={a.status} />
      </div>
      <dl class="facts">
        <dt>Agent</dt>
        <dd>
          {v(a.agent)} <span class="muted">(grant {v(a.grant)})</span>
        </dd>
        <dt>Why</dt>
        <dd>
          {v(a.reason)} <span class="muted">{v(a.rule)}</span>
        </dd>
        <dt>Asked</dt>
        <dd>
          {time(a.created)}
          {a.status === 'pending' && <span class="muted"> · expires {time(a.expires)}</span>}
        </dd>
        {a.decided_by && (
          <>
            <dt>Answered by</dt>
            <dd>
              {v(a.decided_by)}
              {a.decision_reason ? `: ${v(a.decision_reason)}` : ''}
            </dd>
          </>
        )}
      </dl>
      <Json value={a.arguments} label="Arguments" />
      <ErrorBox error={error} />
      {a.status === 'pending' && canAnswer && (
        <div class="actions">
          <label for={reasonId}>Reason (the agent sees it on a denial)</label>
          <input
            id={reasonId}
            value={reason}
            maxLength={2000}
            onInput={(e) => setReason((e.target as HTMLInputElement).value)}
          />
          <button type="button" disabled={busy} onClick={() => void answer(true)}>
            Approve
          </button>
          <button type="button" class="danger" disabled={busy} onClick={() => void answer(false)}>
            Deny
          </button>
        </div>
      )}
    </li>
  );
}

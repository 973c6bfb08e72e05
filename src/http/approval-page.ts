// The approval page (`/ui/approvals/<id>?key=...`): where a person who got a link — in a webhook
// message, or from their MCP client — sees one approval and answers it. The key in the link is the
// capability, so the page needs no admin token; without the right key it is a 404 that says nothing
// about whether the approval exists.
//
// Only a POST answers. Chat tools, mail scanners and browsers open links on their own to preview
// them, so a GET of the approve or deny link shows a confirmation page and changes nothing.
//
// The page is self-contained (no script, no external asset) and served under a Content-Security-
// Policy that allows only its own inline style and forms posting back to this gateway.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { shownSubject, subjectLabel, type Approval } from '../approvals/approval.js';
import type { ApprovalService } from '../approvals/service.js';
import { visibleJson, visibleText } from '../util/visible.js';
import { BodyTooLarge, readBody } from './body.js';

/** A form carries a key and a reason: anything larger is not ours. */
const MAX_FORM_BYTES = 16 * 1024;
const MAX_REASON_CHARS = 1000;

const STYLE = `body{font:15px/1.45 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
h1{font-size:1.35rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{font-weight:600}
dd{margin:0;overflow-wrap:anywhere}pre{background:#f4f5f7;padding:.8rem;overflow:auto;max-height:24rem;border-radius:4px;white-space:pre-wrap;overflow-wrap:anywhere}
textarea{width:100%;box-sizing:border-box;min-height:3.5rem;font:inherit}.row{display:flex;gap:.6rem;margin-top:.6rem}
button{font:inherit;padding:.45rem 1.1rem;border-radius:4px;border:1px solid #888;cursor:pointer}
.approve{background:#1a7f37;color:#fff;border-color:#1a7f37}.deny{background:#cf222e;color:#fff;border-color:#cf222e}
.status{padding:.5rem .8rem;border-radius:4px;background:#eef1f4}.muted{color:#57606a}`;

const CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': CSP,
  // The key is in the URL: it must not leave in a Referer header, a cache or a frame.
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
};

type Action = 'approve' | 'deny';

const ROUTE = /^\/ui\/approvals\/([^/]+)(?:\/(approve|deny))?$/;

/** Serves every path under `/ui/approvals/`. */
export async function handleApprovalPage(
  approvals: ApprovalService,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  const m = ROUTE.exec(path);
  const id = m ? safeDecode(m[1]!) : undefined;
  if (!m || id === undefined) return notFound(res);
  const action = m[2] as Action | undefined;

  if (req.method === 'GET' || req.method === 'HEAD') {
    const key = new URL(req.url ?? '/', 'http://gatehouse').searchParams.get('key') ?? undefined;
    const approval = await authorised(approvals, id, key);
    if (!approval) return notFound(res);
    return send(res, 200, action ? confirmPage(approval, key!, action) : detailPage(approval, key!));
  }
  if (req.method !== 'POST' || !action) {
    res.writeHead(405, { allow: action ? 'GET, POST' : 'GET' }).end();
    return;
  }
  if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) {
    return send(res, 415, page('Unsupported form', '<p>Answer with the form on the approval page.</p>'));
  }
  let form: URLSearchParams;
  try {
    form = new URLSearchParams(await readBody(req, MAX_FORM_BYTES));
  } catch (err) {
    if (err instanceof BodyTooLarge) return send(res, 413, page('Too large', '<p>The form is too large.</p>'));
    throw err;
  }
  const key = form.get('key') ?? undefined;
  const approval = await authorised(approvals, id, key);
  if (!approval) return notFound(res);
  const reason = (form.get('reason') ?? '').trim().slice(0, MAX_REASON_CHARS);
  const outcome = await approvals.answer(id, {
    approve: action === 'approve',
    by: 'link',
    channel: 'link',
    ...(reason ? { reason } : {}),
  });
  if (outcome.ok) return send(res, 200, resultPage(outcome.approval, key!));
  if (outcome.code === 'not_found') return notFound(res);
  const now = (await approvals.current(id)) ?? outcome.approval ?? approval;
  return send(res, 409, resultPage(now, key!, outcome.message));
}

/** The approval, when `key` is its link secret; otherwise undefined, whether it exists or not. */
async function authorised(
  approvals: ApprovalService,
  id: string,
  key: string | undefined,
): Promise<Approval | undefined> {
  if (!key || !id.startsWith('apr_')) return undefined;
  const approval = await approvals.current(id);
  return approval && approvals.linkKeyMatches(approval, key) ? approval : undefined;
}

function detailPage(a: Approval, key: string): string {
  const answerable = a.status === 'pending';
  const base = encodeURIComponent(a.id);
  const form = answerable
    ? `<form method="post" action="${esc(base)}/approve">
<input type="hidden" name="key" value="${esc(key)}">
<label for="reason">Reason (optional; a denial's reason is shown to the agent)</label>
<textarea id="reason" name="reason" maxlength="${MAX_REASON_CHARS}"></textarea>
<div class="row"><button class="approve" type="submit">Approve</button>
<button class="deny" type="submit" formaction="${esc(base)}/deny">Deny</button></div>
</form>`
    : '';
  return page(`Approval for ${a.server}/${visibleText(shownSubject(a))}`, `${statusLine(a)}\n${facts(a)}\n${form}`);
}

function confirmPage(a: Approval, key: string, action: Action): string {
  if (a.status !== 'pending') return detailPage(a, key);
  const verb = action === 'approve' ? 'Approve' : 'Deny';
  const body = `<p>Confirm that you want to <strong>${action}</strong> this call. Nothing has been answered yet.</p>
${facts(a)}
<form method="post" action="${action}">
<input type="hidden" name="key" value="${esc(key)}">
<label for="reason">Reason (optional${action === 'deny' ? '; shown to the agent' : ''})</label>
<textarea id="reason" name="reason" maxlength="${MAX_REASON_CHARS}"></textarea>
<div class="row"><button class="${action}" type="submit">${verb}</button></div>
</form>`;
  return page(`${verb} ${a.server}/${visibleText(shownSubject(a))}?`, body);
}

function resultPage(a: Approval, key: string, problem?: string): string {
  const title = problem ? 'Not answered' : a.status === 'approved' ? 'Approved' : 'Denied';
  const note = problem ? `<p>${esc(problem)}</p>` : '<p>Your answer has been recorded.</p>';
  const back = `<p><a href="../${esc(encodeURIComponent(a.id))}?key=${esc(encodeURIComponent(key))}">Back to the approval</a></p>`;
  return page(title, `${note}\n${statusLine(a)}\n${facts(a)}\n${back}`);
}

function statusLine(a: Approval): string {
  if (a.status === 'pending') return `<p class="status">Waiting for an answer until ${esc(time(a.expires))}.</p>`;
  const who = a.decided_by ? ` by ${shown(a.decided_by)}` : '';
  const via = a.channel ? ` via ${shown(a.channel)}` : '';
  const when = a.decided_at ? ` at ${esc(time(a.decided_at))}` : '';
  const why = a.decision_reason ? ` — “${shown(a.decision_reason)}”` : '';
  return `<p class="status">Status: <strong>${esc(a.status)}</strong>${who}${via}${when}${why}</p>`;
}

function facts(a: Approval): string {
  const row = (k: string, v: string) => `<dt>${k}</dt><dd>${shown(v)}</dd>`;
  return `<dl>
${row('Server', a.server)}${row(subjectLabel(a), a.tool)}${row('Agent', a.agent)}${row('Grant', a.grant)}
${row('Rule', a.rule)}${a.reason ? row('Why', a.reason) : ''}${row('Created', time(a.created))}${row('Expires', time(a.expires))}
${row('Approval', a.id)}
</dl>
<p class="muted">Arguments (an approval is for exactly these)</p>
<pre>${esc(visibleJson(a.arguments ?? {}, 2))}</pre>`;
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>${esc(title)} · Gatehouse</title><style>${STYLE}</style></head>
<body><h1>${esc(title)}</h1>
${body}
</body></html>`;
}

function notFound(res: ServerResponse): void {
  send(res, 404, page('Not found', '<p>There is nothing here. The link may be incomplete.</p>'));
}

function send(res: ServerResponse, status: number, html: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { ...HEADERS, 'content-length': Buffer.byteLength(html) });
  res.end(html);
}

function time(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
}

/** Text that came from a call, an agent or an upstream: escaped, with its hidden characters made visible. */
function shown(text: string): string {
  return esc(visibleText(text));
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

// Proves the approval page against a running gateway whose admin API and MCP endpoints need tokens:
// with the link's key and no token, the page shows the approval (escaped, self-contained, under a
// strict Content-Security-Policy) with Approve and Deny buttons; a GET of the approve or deny link
// only asks to confirm and leaves the approval pending (link scanners open links); the form's POST
// answers it (status approved or denied, by and channel `link`, the reason kept) and a second POST
// is 409; a wrong, missing or foreign key, or an unknown id, is the same 404 that says nothing; a
// prompt's approval says it is one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { HELD_CALL, settings, startTestGateway, tempDir, type TempDir } from './support.js';

let dir: TempDir;
let gateway: Gateway;

beforeAll(async () => {
  dir = tempDir('gatehouse-approval-page-');
  gateway = await startTestGateway(dir, {
    auth: { mode: 'grants', admin_token: 'admin-3f9c2e71' },
    grants: { ci: { token: 'agent-81be0c44', agent: 'ci', servers: ['fixture'] } },
  });
});
afterAll(async () => {
  await gateway?.close();
  dir?.remove();
});

async function get(path: string): Promise<{ status: number; headers: Headers; html: string }> {
  const res = await fetch(`${gateway.url}${path}`, { redirect: 'manual' });
  return { status: res.status, headers: res.headers, html: await res.text() };
}

async function post(path: string, form: Record<string, string>, contentType?: string) {
  const res = await fetch(`${gateway.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': contentType ?? 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, html: await res.text() };
}

const openOne = () => gateway.core.approvals.open(HELD_CALL, settings());
const statusOf = async (id: string) => (await gateway.core.approvals.get(id))!;
const q = (key: string) => `?key=${encodeURIComponent(key)}`;

describe('the approval page', () => {
  it('names what a prompt approval is for: "prompt" in the title, a Prompt row', async () => {
    const { approval, linkKey } = await gateway.core.approvals.open(
      { ...HELD_CALL, subject: 'prompt', tool: 'deploy', rule: '/prompts/deploy' },
      settings(),
    );
    const r = await get(`/ui/approvals/${approval.id}${q(linkKey)}`);
    expect(r.html).toContain('fixture/prompt deploy');
    expect(r.html).toContain('<dt>Prompt</dt><dd>deploy</dd>');
  });

  it('shows the approval, escaped, with both buttons, under a strict CSP and without any token', async () => {
    const { approval, linkKey } = await openOne();
    const r = await get(`/ui/approvals/${approval.id}${q(linkKey)}`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = r.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("form-action 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(r.headers.get('referrer-policy')).toBe('no-referrer');
    expect(r.headers.get('cache-control')).toBe('no-store');
    for (const fact of ['fixture', 'delete_repository', 'ci-runner', 'Deleting a repository needs a person.'])
      expect(r.html).toContain(fact);
    expect(r.html).toContain('&#60;script&#62;alert(1)&#60;/script&#62; &#38; \\&#34;quotes\\&#34;');
    expect(r.html).not.toMatch(/<script|src=|href="http/i);
    expect(r.html).toContain(`action="${approval.id}/approve"`);
    expect(r.html).toContain(`formaction="${approval.id}/deny"`);
    expect(r.html).toContain(`name="key" value="${linkKey}"`);
    expect(r.html).toContain('Waiting for an answer');
  });

  it('a GET of the approve or deny link asks to confirm and answers nothing', async () => {
    const { approval, linkKey } = await openOne();
    for (const action of ['approve', 'deny']) {
      const r = await get(`/ui/approvals/${approval.id}/${action}${q(linkKey)}`);
      expect(r.status).toBe(200);
      expect(r.html).toContain('Nothing has been answered yet');
      expect(r.html).toContain(`action="${action}"`);
    }
    expect((await statusOf(approval.id)).status).toBe('pending');
  });

  it('the POST of the approve form approves through the link channel, and a second answer is 409', async () => {
    const { approval, linkKey } = await openOne();
    const r = await post(`/ui/approvals/${approval.id}/approve`, { key: linkKey, reason: 'looked at it' });
    expect(r.status).toBe(200);
    expect(r.html).toContain('<h1>Approved</h1>');
    const now = await statusOf(approval.id);
    expect(now).toMatchObject({
      status: 'approved',
      channel: 'link',
      decided_by: 'link',
      decision_reason: 'looked at it',
    });

    const again = await post(`/ui/approvals/${approval.id}/deny`, { key: linkKey });
    expect(again.status).toBe(409);
    expect(again.html).toContain('already approved');
    expect((await statusOf(approval.id)).status).toBe('approved');
  });

  it('the POST of the deny form denies, keeping the reason for the agent', async () => {
    const { approval, linkKey } = await openOne();
    const r = await post(`/ui/approvals/${approval.id}/deny`, { key: linkKey, reason: 'not on a Friday' });
    expect(r.status).toBe(200);
    expect(r.html).toContain('<h1>Denied</h1>');
    expect(await statusOf(approval.id)).toMatchObject({
      status: 'denied',
      channel: 'link',
      decision_reason: 'not on a Friday',
    });
  });

  it('a wrong, missing or foreign key, or an unknown id, is the same 404 and changes nothing', async () => {
    const { approval } = await openOne();
    const other = await openOne();
    const paths = [
      `/ui/approvals/${approval.id}${q('wrong-key')}`,
      `/ui/approvals/${approval.id}`,
      `/ui/approvals/${approval.id}/approve${q(other.linkKey)}`,
      `/ui/approvals/apr_00000000000000000000000000000000${q(other.linkKey)}`,
      `/ui/approvals/${approval.id}/elsewhere${q(other.linkKey)}`,
    ];
    const answers = await Promise.all(paths.map(get));
    for (const r of answers) expect(r.status).toBe(404);
    expect(new Set(answers.map((r) => r.html)).size).toBe(1);
    expect(answers[0]!.html).not.toContain(approval.id);

    const forged = await post(`/ui/approvals/${approval.id}/approve`, { key: other.linkKey });
    expect(forged.status).toBe(404);
    expect(forged.html).toBe(answers[0]!.html);
    expect((await statusOf(approval.id)).status).toBe('pending');
  });

  it('refuses a POST that is not a form, and a POST of the page itself', async () => {
    const { approval, linkKey } = await openOne();
    expect((await post(`/ui/approvals/${approval.id}/approve`, { key: linkKey }, 'application/json')).status).toBe(415);
    expect((await post(`/ui/approvals/${approval.id}`, { key: linkKey })).status).toBe(405);
    expect((await statusOf(approval.id)).status).toBe('pending');
  });
});

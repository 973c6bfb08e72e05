// What a webhook channel receives about a new approval: the generic JSON event, or a message Slack
// (and the many tools that accept Slack's incoming-webhook format) can show as is. Both carry the
// same facts and the same three links; the links lead to a confirmation page, never straight to an
// answer, because chat tools and mail scanners open links on their own.
import { shownSubject, subjectLabel, subjectOf, type Approval, type ApprovalSubject } from './approval.js';
import { visibleJson, visibleText } from '../util/visible.js';
import { approvalActionUrl, approvalPageUrl } from './links.js';

export interface ApprovalLinks {
  page: string;
  approve: string;
  deny: string;
}

export interface ApprovalRequestedEvent {
  type: 'approval.requested';
  approval: {
    id: string;
    server: string;
    tool: string;
    /** What `tool` names: a tool, a prompt or a resource. */
    subject: ApprovalSubject;
    arguments: unknown;
    grant: string;
    agent: string;
    session: string;
    rule: string;
    reason: string;
    /** ISO 8601, UTC. */
    created: string;
    expires: string;
  };
  links: ApprovalLinks;
}

export function approvalLinks(base: string, id: string, key: string): ApprovalLinks {
  return {
    page: approvalPageUrl(base, id, key),
    approve: approvalActionUrl(base, id, key, 'approve'),
    deny: approvalActionUrl(base, id, key, 'deny'),
  };
}

export function jsonPayload(a: Approval, links: ApprovalLinks): ApprovalRequestedEvent {
  return {
    type: 'approval.requested',
    approval: {
      id: a.id,
      server: a.server,
      tool: a.tool,
      subject: subjectOf(a),
      arguments: a.arguments,
      grant: a.grant,
      agent: a.agent,
      session: a.session,
      rule: a.rule,
      reason: a.reason,
      created: new Date(a.created).toISOString(),
      expires: new Date(a.expires).toISOString(),
    },
    links,
  };
}

/** Slack refuses a text object longer than 3000 characters; the arguments are cut well before. */
const MAX_ARGS_CHARS = 2500;

/** Slack's mrkdwn reads `&`, `<` and `>` as markup: everything we did not write is escaped. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function slackPayload(a: Approval, links: ApprovalLinks): { text: string; blocks: unknown[] } {
  // What a person reads there: markup escaped, and no character that hides or reorders text.
  const e = (text: string) => slackEscape(visibleText(text));
  let args = visibleJson(a.arguments ?? {}, 2);
  if (args.length > MAX_ARGS_CHARS) args = `${args.slice(0, MAX_ARGS_CHARS)}\n… (cut; see the approval page)`;
  // Inside a code block only a closing fence could break out.
  args = args.replace(/```/g, '`\u200b``');
  const expires = new Date(a.expires).toISOString();
  const field = (label: string, value: string) => ({ type: 'mrkdwn', text: `*${label}*\n${e(value)}` });
  const text = `Approval requested: ${e(a.server)}/${e(shownSubject(a))} for agent ${e(a.agent)} (grant ${e(a.grant)}), expires ${expires}. Review: ${links.page}`;
  return {
    text,
    blocks: [
      {
        type: 'header',
        text: {
          type: 'plain_text',
          text: `Approval requested: ${a.server}/${visibleText(shownSubject(a))}`.slice(0, 150),
        },
      },
      {
        type: 'section',
        fields: [
          field('Server', a.server),
          field(subjectLabel(a), a.tool),
          field('Agent', a.agent),
          field('Grant', a.grant),
          field('Rule', a.rule),
          field('Expires', expires),
        ],
      },
      ...(a.reason ? [{ type: 'section', text: { type: 'mrkdwn', text: `*Why*\n${e(a.reason)}` } }] : []),
      { type: 'section', text: { type: 'mrkdwn', text: `*Arguments*\n\`\`\`${slackEscape(args)}\`\`\`` } },
      {
        type: 'actions',
        elements: [
          { type: 'button', text: { type: 'plain_text', text: 'Approve…' }, style: 'primary', url: links.approve },
          { type: 'button', text: { type: 'plain_text', text: 'Deny…' }, style: 'danger', url: links.deny },
          { type: 'button', text: { type: 'plain_text', text: 'Open' }, url: links.page },
        ],
      },
      {
        type: 'context',
        elements: [{ type: 'mrkdwn', text: `Approval ${e(a.id)}; the buttons open a page that asks to confirm.` }],
      },
    ],
  };
}

// A pending approval (DESIGN section 7): one call held for a person's decision. It lives in the
// state store, so it survives a restart and — with a shared store — is answered on any replica.
// An approval is for exactly the arguments that were shown: `args_hash` is a hash of the exact
// arguments, while `arguments` holds only what the audit log's redaction lets through.

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'withdrawn' | 'used';

/** How an approval is kept once granted: for one call, for the session, or for some seconds. */
export type Remember = 'none' | 'session' | number;

/** What an approval lets through: a tool call, a prompt, or a resource read. */
export type ApprovalSubject = 'tool' | 'prompt' | 'resource';

export interface Approval {
  /** Unguessable: `apr_` and 128 random bits. */
  id: string;
  server: string;
  /** The tool's or prompt's name, or the resource's URI (see `subject`). */
  tool: string;
  /**
   * What `tool` names. An approval of a prompt never lets a tool of the same name run, nor the
   * reverse. Absent on approvals stored before it was recorded: those were for tools.
   */
  subject?: ApprovalSubject;
  /** The arguments as shown to approvers (redacted). */
  arguments: unknown;
  /** SHA-256 of the exact arguments in canonical JSON. */
  args_hash: string;
  grant: string;
  agent: string;
  session: string;
  /** The rule that asked for approval (JSON pointer) and why. */
  rule: string;
  reason: string;
  mode: 'hold' | 'retry';
  remember: Remember;
  /** Channels the policy named in `notify`. */
  notify: string[];
  created: number;
  expires: number;
  status: ApprovalStatus;
  decided_at?: number;
  /** Who answered: an operator's name, `admin-api`, `cli`, `webhook-link`, the client's user. */
  decided_by?: string;
  /** Through which channel: api, cli, link, elicitation, or the system (timeout, withdrawn). */
  channel?: string;
  /** The approver's reason (for a denial, it reaches the agent). */
  decision_reason?: string;
  /** SHA-256 of the secret in this approval's approve and deny links. */
  link_hash?: string;
}

/** The fields an answer changes. */
export type ApprovalPatch = Pick<Approval, 'status'> &
  Partial<Pick<Approval, 'decided_at' | 'decided_by' | 'channel' | 'decision_reason'>>;

export interface ApprovalFilter {
  status?: ApprovalStatus[];
  grant?: string;
  server?: string;
  tool?: string;
  args_hash?: string;
  /** Newest first; default 100. */
  limit?: number;
}

/** What an approval lets through; one stored before the subject was recorded, from its rule. */
export function subjectOf(a: Pick<Approval, 'subject' | 'rule'>): ApprovalSubject {
  if (a.subject) return a.subject;
  if (a.rule.startsWith('/prompts/')) return 'prompt';
  if (a.rule.startsWith('/resources/')) return 'resource';
  return 'tool';
}

/** How an approver is shown the subject's kind: `Tool`, `Prompt` or `Resource`. */
export function subjectLabel(a: Pick<Approval, 'subject' | 'rule'>): string {
  const s = subjectOf(a);
  return s[0]!.toUpperCase() + s.slice(1);
}

/** The name as an approver reads it: a tool's bare, a prompt's or resource's with its kind first. */
export function shownSubject(a: Pick<Approval, 'subject' | 'rule' | 'tool'>): string {
  const s = subjectOf(a);
  return s === 'tool' ? a.tool : `${s} ${a.tool}`;
}

// Approvals as the call path sees them: find an approval that already covers a call, open a new
// one, wait for its answer, and answer it. Everything goes through the state store and its change
// feed, never a private map: a held call is released by whoever answers, in this process or in
// another one sharing the store (the CLI, another replica).
import { DEFAULT_MAX_PENDING_APPROVALS_PER_GRANT } from '../config/schema.js';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { canonicalJson } from '../catalog/pins.js';
import type { StateStore } from '../store/store.js';
import { subjectOf, type Approval, type ApprovalFilter, type ApprovalSubject, type Remember } from './approval.js';

export const DEFAULT_APPROVAL_TIMEOUT_S = 600;

/** What the policy says about approving one rule's calls (its `approval` block, normalised). */
export interface ApprovalSettings {
  timeoutS: number;
  mode: 'hold' | 'retry';
  remember: Remember;
  notify: string[];
}

/** One call that needs approval. */
export interface ApprovalCall {
  server: string;
  tool: string;
  /** What `tool` names: only an approval of the same subject covers the call. */
  subject: ApprovalSubject;
  /** The hash of the exact arguments (`argsHash`), taken once per call; the arguments are never stored. */
  argsHash: string;
  /** The arguments as approvers may see them (redacted). */
  shownArgs: unknown;
  grant: string;
  agent: string;
  session: string;
  rule: string;
  reason: string;
}

export interface Answer {
  approve: boolean;
  /** Who answered. */
  by: string;
  /** Through what: api, cli, link, elicitation. */
  channel: string;
  reason?: string;
}

export type AnswerOutcome =
  | { ok: true; approval: Approval }
  | { ok: false; code: 'not_found' | 'not_pending'; message: string; approval?: Approval };

/** A freshly opened approval and the secret of its approve/deny links (shown once, stored hashed). */
export interface Opened {
  approval: Approval;
  linkKey: string;
}

export type Announce = (opened: Opened) => void;

export function argsHash(args: unknown): string {
  return createHash('sha256')
    .update(canonicalJson(args ?? {}))
    .digest('hex');
}

/** Whether an approval was given for the same kind of request as the call (see Approval.subject). */
function sameSubject(a: Approval, call: ApprovalCall): boolean {
  return subjectOf(a) === call.subject;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** One grant has as many approvals pending as limits.max_pending_approvals_per_grant allows. */
export class PendingApprovalLimit extends Error {
  readonly code = 'APPROVALS_PENDING_LIMIT';
  constructor(
    readonly grant: string,
    readonly limit: number,
  ) {
    super(
      `Too many approvals pending: grant "${grant}" already has ${limit} waiting for an answer (limits.max_pending_approvals_per_grant); answer or let some expire first.`,
    );
  }
}

export class ApprovalService {
  private closing = false;
  /** limits.max_pending_approvals_per_grant: a grant cannot flood the approvers' queue. */
  maxPendingPerGrant = DEFAULT_MAX_PENDING_APPROVALS_PER_GRANT;
  private readonly announcers: Announce[] = [];
  /**
   * Approvals a call held in this process is waiting on. One of these that is good for one call
   * belongs to that call: another identical call neither joins it nor takes it once approved.
   */
  private readonly waiting = new Set<string>();

  constructor(
    readonly store: StateStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** Channels (webhooks, the dashboard's feed) hear of each new approval here. */
  onOpened(fn: Announce): void {
    this.announcers.push(fn);
  }

  /**
   * An answered approval that lets this call through, claimed (moved to `used`) when it is good for
   * one call only, so that no other call can take it meanwhile; the caller gives it back with
   * `giveBack` when the call is then blocked after all (a limit). Undefined when none does.
   */
  async granted(call: ApprovalCall): Promise<Approval | undefined> {
    const approved = await this.store.listApprovals({
      grant: call.grant,
      server: call.server,
      tool: call.tool,
      args_hash: call.argsHash,
      status: ['approved'],
    });
    const now = this.now();
    for (const a of approved) {
      if (!sameSubject(a, call)) continue;
      const kept = a.remember;
      if (kept === 'session') {
        // Stored before a 2026-07-28 client's `session` was turned into the timeout (policy-gate.ts,
        // approvalSettings): its session key is the grant's, which never ends, so it lasts its timeout.
        const forEver = a.session.startsWith('principal:');
        if (a.session === call.session && (!forEver || (a.decided_at ?? 0) + (a.expires - a.created) > now)) return a;
        continue;
      }
      if (typeof kept === 'number') {
        if ((a.decided_at ?? 0) + kept * 1000 > now) return a;
        continue;
      }
      // Good for exactly one call: whoever moves it to `used` first has it. One that a held call
      // here is waiting on is that call's own. One not used within its timeout of the answer has
      // lapsed: a person approved the call for then, not for whenever the agent comes back.
      if (this.waiting.has(a.id)) continue;
      if (lapsed(a, now)) {
        await this.lapse(a.id);
        continue;
      }
      const used = await this.store.transitionApproval(a.id, ['approved'], { status: 'used' });
      if (used) return used;
    }
    return undefined;
  }

  /**
   * Claims an approval good for one call: moves it from `approved` to `used`. Undefined when another
   * call claimed it first.
   */
  async claim(a: Approval): Promise<Approval | undefined> {
    try {
      return await this.store.transitionApproval(a.id, ['approved'], { status: 'used' });
    } finally {
      this.waiting.delete(a.id);
    }
  }

  /**
   * Gives back an approval claimed for a call that was then blocked (a limit, a policy that changed
   * meanwhile): the call did not happen, so the approval is still good for its retry.
   */
  async giveBack(a: Approval): Promise<void> {
    if (a.remember !== 'none') return;
    await this.store.transitionApproval(a.id, ['used'], { status: 'approved' });
  }

  /**
   * The newest unanswered, unexpired approval for exactly this call, if one is open. With
   * `unattended`, only one that no call held in this process is waiting on: one left pending when a
   * gateway stopped, which the agent's retry joins rather than asking twice.
   */
  async pending(call: ApprovalCall, opts: { unattended?: boolean } = {}): Promise<Approval | undefined> {
    const found = await this.store.listApprovals({
      grant: call.grant,
      server: call.server,
      tool: call.tool,
      args_hash: call.argsHash,
      status: ['pending'],
      limit: 20,
    });
    for (const a of found) {
      if (!sameSubject(a, call)) continue;
      if (a.expires <= this.now()) {
        await this.expire(a.id);
        continue;
      }
      if (!opts.unattended || !this.waiting.has(a.id)) return a;
    }
    return undefined;
  }

  /** How many approvals are waiting for an answer now (not those past their expiry). */
  async pendingCount(): Promise<number> {
    const now = this.now();
    const found = await this.store.listApprovals({ status: ['pending'], limit: 100_000 });
    return found.filter((a) => a.expires > now).length;
  }

  /** The newest denial of exactly this call that is still in force (until the approval's expiry). */
  async denied(call: ApprovalCall): Promise<Approval | undefined> {
    const found = await this.store.listApprovals({
      grant: call.grant,
      server: call.server,
      tool: call.tool,
      args_hash: call.argsHash,
      status: ['denied'],
      limit: 20,
    });
    const a = found.find((d) => sameSubject(d, call));
    return a && a.expires > this.now() ? a : undefined;
  }

  async open(call: ApprovalCall, settings: ApprovalSettings): Promise<Opened> {
    const created = this.now();
    const pending = await this.store.listApprovals({
      grant: call.grant,
      status: ['pending'],
      limit: this.maxPendingPerGrant + 1,
    });
    if (pending.filter((a) => a.expires > created).length >= this.maxPendingPerGrant)
      throw new PendingApprovalLimit(call.grant, this.maxPendingPerGrant);
    const linkKey = randomBytes(24).toString('base64url');
    const approval: Approval = {
      id: `apr_${randomBytes(16).toString('hex')}`,
      server: call.server,
      tool: call.tool,
      subject: call.subject,
      arguments: call.shownArgs,
      args_hash: call.argsHash,
      grant: call.grant,
      agent: call.agent,
      session: call.session,
      rule: call.rule,
      reason: call.reason,
      mode: settings.mode,
      remember: settings.remember,
      notify: settings.notify,
      created,
      expires: created + settings.timeoutS * 1000,
      status: 'pending',
      link_hash: sha256(linkKey),
    };
    await this.store.createApproval(approval);
    const opened = { approval, linkKey };
    for (const announce of this.announcers) {
      try {
        announce(opened);
      } catch {
        // A channel's failure is its own to report; it never stops the approval.
      }
    }
    return opened;
  }

  async answer(id: string, a: Answer): Promise<AnswerOutcome> {
    const current = await this.store.getApproval(id);
    if (!current) return { ok: false, code: 'not_found', message: `No approval "${id}".` };
    if (current.status === 'pending' && current.expires <= this.now()) {
      await this.expire(id);
      return { ok: false, code: 'not_pending', message: `Approval "${id}" has expired.`, approval: current };
    }
    const done = await this.store.transitionApproval(id, ['pending'], {
      status: a.approve ? 'approved' : 'denied',
      decided_at: this.now(),
      decided_by: a.by,
      channel: a.channel,
      ...(a.reason ? { decision_reason: a.reason } : {}),
    });
    if (done) return { ok: true, approval: done };
    const after = await this.store.getApproval(id);
    return {
      ok: false,
      code: 'not_pending',
      message: `Approval "${id}" is already ${after?.status ?? 'gone'}.`,
      ...(after ? { approval: after } : {}),
    };
  }

  /** Whether `key` is the secret of this approval's links. */
  linkKeyMatches(approval: Approval, key: string | undefined): boolean {
    if (!key || !approval.link_hash) return false;
    return timingSafeEqual(Buffer.from(sha256(key), 'hex'), Buffer.from(approval.link_hash, 'hex'));
  }

  /**
   * Waits until the approval is answered, expires, or the caller gives up (`signal`: the client
   * cancelled or went away, which withdraws it). `tick` is called every `tickMs` while it waits.
   * When the gateway stops meanwhile, it resolves with the approval still `pending`: it stays
   * answerable in the store, and the agent's retry after the restart finds the answer.
   */
  wait(
    approval: Approval,
    opts: { signal?: AbortSignal; tick?: (elapsedMs: number) => void; tickMs?: number },
  ): Promise<Approval> {
    const started = this.now();
    return new Promise<Approval>((resolve) => {
      let settled = false;
      const timers: NodeJS.Timeout[] = [];
      this.waiting.add(approval.id);
      const finish = (a: Approval) => {
        if (settled) return;
        settled = true;
        // An approval for one call stays its waiter's until the waiter claims it.
        if (a.status !== 'approved' || a.remember !== 'none') this.waiting.delete(approval.id);
        unwatch();
        for (const t of timers) clearTimeout(t);
        opts.signal?.removeEventListener('abort', onAbort);
        resolve(a);
      };
      const seen = (a: Approval) => {
        if (a.id === approval.id && a.status !== 'pending') finish(a);
      };
      const unwatch = this.store.watchApprovals(seen);
      // Settle to whatever the store holds when the local transition loses a race.
      const settleTo = async (status: 'expired' | 'withdrawn', by: string) => {
        const moved = await this.store
          .transitionApproval(approval.id, ['pending'], {
            status,
            decided_at: this.now(),
            decided_by: by,
            channel: 'system',
          })
          .catch(() => undefined);
        const now = moved ?? (await this.store.getApproval(approval.id).catch(() => undefined));
        finish(now ?? { ...approval, status });
      };
      const onAbort = () => {
        // A gateway shutting down is not the client withdrawing: the approval stays answerable,
        // and the agent's retry after the restart is let through once it is approved.
        if (this.closing) return finish({ ...approval, status: 'pending' });
        void settleTo('withdrawn', 'client');
      };
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const left = Math.max(0, approval.expires - this.now());
      timers.push(setTimeout(() => void settleTo('expired', 'timeout'), left));
      if (opts.tick) {
        const every = opts.tickMs ?? 10_000;
        const tick = () => {
          if (settled) return;
          opts.tick!(this.now() - started);
          timers.push(setTimeout(tick, every));
        };
        tick();
      }
      // It may have been answered before the watch began.
      void this.store
        .getApproval(approval.id)
        .then((a) => a && seen(a))
        .catch(() => {});
    });
  }

  async get(id: string): Promise<Approval | undefined> {
    return this.store.getApproval(id);
  }

  /**
   * The approval as people should see it: one still pending past its expiry — nobody was waiting
   * on it when it ran out — is moved to `expired` first.
   */
  async current(id: string): Promise<Approval | undefined> {
    const a = await this.store.getApproval(id);
    if (a && lapsed(a, this.now())) await this.lapse(id);
    else if (a?.status !== 'pending' || a.expires > this.now()) return a;
    else await this.expire(id);
    return this.store.getApproval(id);
  }

  /** Approvals matching `filter` (newest first), with overdue pending ones expired as `current` does. */
  async list(filter: ApprovalFilter = {}): Promise<Approval[]> {
    const found = await this.store.listApprovals(filter);
    const out: Approval[] = [];
    for (const a of found) {
      const overdue = (a.status === 'pending' && a.expires <= this.now()) || lapsed(a, this.now());
      const now = overdue ? await this.current(a.id) : a;
      if (now && (filter.status === undefined || filter.status.includes(now.status))) out.push(now);
    }
    return out;
  }

  private async expire(id: string): Promise<void> {
    await this.store.transitionApproval(id, ['pending'], {
      status: 'expired',
      decided_at: this.now(),
      decided_by: 'timeout',
      channel: 'system',
    });
  }

  /** An approval good for one call that lapsed unused: `expired`, still naming who approved it. */
  private async lapse(id: string): Promise<void> {
    await this.store.transitionApproval(id, ['approved'], { status: 'expired' });
  }

  /** From now on, calls given up on are the gateway stopping, not clients withdrawing. */
  close(): void {
    this.closing = true;
  }
}

/**
 * Whether an approval good for one call was approved and left unused for longer than its timeout
 * (the time it had to be answered in), counted from the answer.
 */
export function lapsed(a: Approval, now: number): boolean {
  return (
    a.status === 'approved' && a.remember === 'none' && (a.decided_at ?? a.created) + (a.expires - a.created) <= now
  );
}

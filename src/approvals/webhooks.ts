// Announces each new approval to the webhook channels its policy names in `approval.notify`. A
// delivery is retried with exponential backoff while the receiver may recover (network errors,
// 5xx, 429) and given up at once when it says the request itself is wrong (other 4xx). Every
// failure is logged and kept, per approval, for the admin API; a counter feeds the metrics.
//
// Delivery state lives in this process: with several replicas, the replica that opened an approval
// is the one that announces it and the one that knows how the announcement went.
import type { Approval } from './approval.js';
import type { ApprovalChannelConfig } from './config-schema.js';
import { CLIENT_CHANNEL } from './config-schema.js';
import type { ApprovalService, Opened } from './service.js';
import { approvalLinks, jsonPayload, slackPayload } from './webhook-payloads.js';

export type WebhookLog = (level: 'info' | 'warn' | 'error', msg: string) => void;

export interface DeliveryStatus {
  channel: string;
  /** pending: being tried (or waiting to retry); delivered; failed: given up; skipped: no such channel. */
  state: 'pending' | 'delivered' | 'failed' | 'skipped';
  delivered: boolean;
  attempts: number;
  /** HTTP status of the last attempt that got an answer. */
  last_status?: number;
  /** Why the last attempt failed (network error, status). */
  last_error?: string;
  /** ISO 8601 time of the last attempt. */
  last_attempt?: string;
}

export interface WebhookOptions {
  channels: Record<string, ApprovalChannelConfig>;
  /** The base of approval links, read when an approval is announced. */
  baseUrl: () => string | undefined;
  log: WebhookLog;
  /** Attempts per delivery, the first included; default 5. */
  attempts?: number;
  /** Delay before the first retry; doubles each time. Default 500 ms. */
  baseDelayMs?: number;
  /** Time allowed for one attempt; default 10 s. */
  timeoutMs?: number;
}

/** Approvals whose delivery status is kept; older ones are forgotten first. */
const KEEP_APPROVALS = 1000;
/** The longest wait between two attempts, however many came before. */
const MAX_DELAY_MS = 60_000;

type AttemptResult = { ok: true; status: number } | { ok: false; retry: boolean; status?: number; error: string };

export class WebhookNotifier {
  private readonly status = new Map<string, DeliveryStatus[]>();
  private readonly running = new Set<Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly aborter = new AbortController();
  private failed = 0;
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly opts: WebhookOptions) {
    this.attempts = Math.max(1, opts.attempts ?? 5);
    this.baseDelayMs = opts.baseDelayMs ?? 500;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** Announces every approval the service opens from now on. */
  attach(service: ApprovalService): void {
    service.onOpened((opened) => void this.announce(opened));
  }

  /** Delivers one approval to its channels; resolves when every delivery has ended. */
  announce({ approval, linkKey }: Opened): Promise<void> {
    const names = [...new Set(approval.notify)].filter((n) => n !== CLIENT_CHANNEL);
    if (names.length === 0 || this.aborter.signal.aborted) return Promise.resolve();
    const rows: DeliveryStatus[] = names.map((channel) =>
      Object.hasOwn(this.opts.channels, channel)
        ? { channel, state: 'pending', delivered: false, attempts: 0 }
        : {
            channel,
            state: 'skipped',
            delivered: false,
            attempts: 0,
            last_error: 'no such channel in approvals.channels',
          },
    );
    this.remember(approval.id, rows);
    const base = this.opts.baseUrl();
    const work = Promise.all(
      rows.map((row) => {
        if (row.state === 'skipped') {
          this.opts.log(
            'warn',
            `approval ${approval.id}: notify names "${row.channel}", which is not a configured channel`,
          );
          return undefined;
        }
        if (!base) {
          this.fail(row, approval, 'the gateway does not know its public URL yet (set approvals.public_url)');
          return undefined;
        }
        return this.deliver(row, approval, this.opts.channels[row.channel]!, approvalLinks(base, approval.id, linkKey));
      }),
    ).then(() => undefined);
    this.running.add(work);
    void work.finally(() => this.running.delete(work));
    return work;
  }

  /** How each channel named by this approval was told (empty when none was, or it is forgotten). */
  deliveries(id: string): DeliveryStatus[] {
    return (this.status.get(id) ?? []).map((row) => ({ ...row }));
  }

  /** Deliveries given up since start. */
  failures(): number {
    return this.failed;
  }

  /** Resolves when every delivery under way has ended (for tests and an orderly shutdown). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  /** Stops retrying; deliveries in flight end as failed. */
  close(): void {
    this.aborter.abort();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private async deliver(
    row: DeliveryStatus,
    approval: Approval,
    channel: ApprovalChannelConfig,
    links: ReturnType<typeof approvalLinks>,
  ): Promise<void> {
    const body = JSON.stringify(
      channel.format === 'slack' ? slackPayload(approval, links) : jsonPayload(approval, links),
    );
    for (;;) {
      row.attempts += 1;
      row.last_attempt = new Date().toISOString();
      const result = await this.attempt(channel, body, `${approval.id}:${row.channel}`);
      if (result.ok) {
        row.state = 'delivered';
        row.delivered = true;
        row.last_status = result.status;
        delete row.last_error;
        return;
      }
      if (result.status !== undefined) row.last_status = result.status;
      row.last_error = result.error;
      if (!result.retry || row.attempts >= this.attempts || this.aborter.signal.aborted)
        return this.fail(row, approval, result.error);
      const delay = Math.min(MAX_DELAY_MS, this.baseDelayMs * 2 ** (row.attempts - 1));
      this.opts.log(
        'warn',
        `approval ${approval.id}: webhook "${row.channel}" attempt ${row.attempts} failed (${result.error}); retrying in ${delay} ms`,
      );
      if (!(await this.sleep(delay))) return this.fail(row, approval, `${result.error}; the gateway stopped retrying`);
    }
  }

  private async attempt(channel: ApprovalChannelConfig, body: string, delivery: string): Promise<AttemptResult> {
    try {
      const res = await fetch(channel.url, {
        method: 'POST',
        headers: {
          ...channel.headers,
          'content-type': 'application/json',
          'user-agent': 'Gatehouse',
          // Lets a receiver recognise a retry of a delivery it already handled.
          'x-gatehouse-delivery': delivery,
          'x-gatehouse-event': 'approval.requested',
        },
        body,
        // A redirect would re-send the approval's links somewhere the operator did not configure.
        redirect: 'manual',
        signal: AbortSignal.any([this.aborter.signal, AbortSignal.timeout(this.timeoutMs)]),
      });
      // The answer's body is not needed; reading it frees the connection.
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
      const retry = res.status >= 500 || res.status === 429;
      return { ok: false, retry, status: res.status, error: `HTTP ${res.status}` };
    } catch (err) {
      return { ok: false, retry: true, error: describeFetchError(err) };
    }
  }

  private fail(row: DeliveryStatus, approval: Approval, error: string): void {
    row.state = 'failed';
    row.last_error = error;
    this.failed += 1;
    this.opts.log(
      'error',
      `approval ${approval.id} (${approval.server}/${approval.tool}): webhook "${row.channel}" not delivered after ${row.attempts} attempt(s): ${error}`,
    );
  }

  /** Resolves true after `ms`, or false at once when the notifier is closed. */
  private sleep(ms: number): Promise<boolean> {
    if (this.aborter.signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => resolve(false);
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.aborter.signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      this.timers.add(timer);
      this.aborter.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private remember(id: string, rows: DeliveryStatus[]): void {
    this.status.set(id, rows);
    // Maps iterate in insertion order: the first key is the oldest approval.
    while (this.status.size > KEEP_APPROVALS) this.status.delete(this.status.keys().next().value!);
  }
}

/** The cause of a failed fetch, without the URL (a webhook URL may carry its secret). */
function describeFetchError(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError') return 'timed out';
    if (err.name === 'AbortError') return 'aborted';
    const cause = (err as { cause?: unknown }).cause;
    if (cause instanceof Error) return (cause as { code?: string }).code ?? cause.message;
    // A request that could not be built: its message quotes what was wrong, a header's value
    // (the receiver's secret) included.
    if (err instanceof TypeError) return 'the request could not be built (check the channel url and headers)';
    return err.message;
  }
  return String(err);
}

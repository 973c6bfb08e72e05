// A modern (2026-07-28) client talking to a legacy server: the server asks for input in the
// middle of a call with a real request (elicitation, sampling, roots), but the modern client can
// only be asked through an `input_required` result and answers by retrying the call. So the
// upstream call is parked here, its questions go out as `inputRequests`, and the retry's
// `inputResponses` are handed back to the server as the answers to its requests.
import { randomUUID } from 'node:crypto';
import type { Era } from '../mcp/era.js';
import { ErrorCode, isObject, type JsonObject, type JsonRpcId, type JsonRpcNotification } from '../mcp/jsonrpc.js';
import type { ClientPeer, PeerAnswer } from './peer.js';
import type { Identity } from '../identity/grants.js';
import { fail, type UpstreamAnswer } from './upstream-connection.js';

export interface InputQuestion {
  key: string;
  method: string;
  params: JsonObject | undefined;
  answer: (a: PeerAnswer) => void;
}

export type ParkOutcome = { kind: 'done'; answer: UpstreamAnswer } | { kind: 'input'; questions: InputQuestion[] };

/** How long a parked call waits for the client's retry before it is cancelled. */
export const PARK_TTL_MS = 10 * 60_000;

export class ParkedCall {
  readonly id = randomUUID();
  readonly peer: ClientPeer;
  private questions: InputQuestion[] = [];
  private done: UpstreamAnswer | undefined;
  private wake: (() => void) | undefined;
  private nextKey = 1;
  /** The client request currently waiting on this call, for progress and logging. */
  current: { peer: ClientPeer; relatedTo: JsonRpcId } | undefined;
  readonly abort = new AbortController();
  expiry: NodeJS.Timeout | undefined;

  constructor(
    readonly server: string,
    readonly method: string,
    base: { principal: string; identity?: Identity; capabilities: JsonObject; clientInfo?: JsonObject },
  ) {
    this.peer = new ParkedPeer(this, base);
  }

  /** Called by the parked call's peer when the server asks the client something. */
  ask(method: string, params: JsonObject | undefined): Promise<PeerAnswer> {
    return new Promise<PeerAnswer>((answer) => {
      this.questions.push({ key: `q${this.nextKey++}`, method, params, answer });
      this.wake?.();
    });
  }

  /** Records the upstream's final answer. */
  finish(answer: UpstreamAnswer): void {
    this.done = answer;
    this.wake?.();
  }

  /** Waits until the call finishes or the server has asked something. */
  async next(): Promise<ParkOutcome> {
    for (;;) {
      if (this.done) return { kind: 'done', answer: this.done };
      if (this.questions.length > 0) {
        // Questions asked together go out together: give the server a moment to ask the rest.
        await new Promise((r) => setImmediate(r));
        const questions = this.questions;
        this.questions = [];
        return { kind: 'input', questions };
      }
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }
}

/** The client as a parked call's server sees it: questions are queued for the next round. */
class ParkedPeer implements ClientPeer {
  readonly id: string;
  readonly era: Era = 'modern';
  readonly principal: string;
  readonly identity?: Identity;
  readonly capabilities: JsonObject;
  readonly clientInfo?: JsonObject;

  constructor(
    private readonly call: ParkedCall,
    base: { principal: string; identity?: Identity; capabilities: JsonObject; clientInfo?: JsonObject },
  ) {
    this.id = `park-${call.id}`;
    this.principal = base.principal;
    if (base.identity) this.identity = base.identity;
    this.capabilities = base.capabilities;
    if (base.clientInfo) this.clientInfo = base.clientInfo;
  }

  get open(): boolean {
    return !this.call.abort.signal.aborted;
  }

  get logLevel(): string | undefined {
    return this.call.current?.peer.logLevel;
  }

  request(method: string, params: JsonObject | undefined): Promise<PeerAnswer> {
    return this.call.ask(method, params);
  }

  notify(n: JsonRpcNotification): void {
    const cur = this.call.current;
    if (cur?.peer.open) cur.peer.notify(n, cur.relatedTo);
  }
}

export class ParkedCalls {
  private readonly calls = new Map<string, { call: ParkedCall; open: Map<string, InputQuestion> }>();

  park(call: ParkedCall, questions: InputQuestion[]): void {
    const open = new Map(questions.map((q) => [q.key, q]));
    clearTimeout(call.expiry);
    call.expiry = setTimeout(() => this.cancel(call.id, 'The client did not retry in time.'), PARK_TTL_MS);
    call.expiry.unref();
    this.calls.set(call.id, { call, open });
  }

  /** Takes a parked call back for a retry, answering its questions from `inputResponses`. */
  resume(id: string, inputResponses: unknown): ParkedCall | undefined {
    const entry = this.calls.get(id);
    if (!entry) return undefined;
    this.calls.delete(id);
    clearTimeout(entry.call.expiry);
    const responses = isObject(inputResponses) ? inputResponses : {};
    for (const [key, q] of entry.open) {
      const r = responses[key];
      if (isObject(r)) q.answer({ result: r });
      else q.answer(fail(ErrorCode.InvalidParams, `The client's retry carried no answer for input request "${key}".`));
    }
    return entry.call;
  }

  cancel(id: string, reason: string): void {
    const entry = this.calls.get(id);
    if (!entry) return;
    this.calls.delete(id);
    for (const q of entry.open.values()) q.answer(fail(ErrorCode.RequestTimeout, reason));
    entry.call.abort.abort();
  }

  get size(): number {
    return this.calls.size;
  }

  closeAll(): void {
    for (const id of [...this.calls.keys()]) this.cancel(id, 'Gatehouse is shutting down.');
  }
}

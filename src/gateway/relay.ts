// Forwards one client request to one upstream connection, bridging the protocol eras
// (DESIGN section 5). Each of the four era pairs is one function below.
import {
  MODERN_PROTOCOL_VERSION,
  MRTR_METHODS,
  stripEnvelope,
  withEnvelope,
  type Envelope,
  type Era,
} from '../mcp/era.js';
import { createHash, randomBytes } from 'node:crypto';
import { canonicalJson } from '../catalog/pins.js';
import { ErrorCode, isObject, type JsonObject, type JsonRpcErrorObject, type JsonRpcId } from '../mcp/jsonrpc.js';
import { ParkedCall, type ParkedCalls, PARK_TTL_MS } from './parked-calls.js';
import type { ClientPeer } from './peer.js';
import { spent } from './spent-answer.js';
import type { Sealer } from './seal.js';
import type { Reservation } from '../store/store.js';
import { fail, missingCapability, type UpstreamAnswer, type UpstreamConnection } from './upstream-connection.js';

export interface ClientRequest {
  id: JsonRpcId;
  method: string;
  params?: JsonObject;
  era: Era;
  /** The modern envelope the request carried. */
  envelope?: Envelope;
  signal?: AbortSignal;
  /** Quota reserved for this call, carried through input_required rounds inside the state. */
  carried?: Reservation[];
  /** The approval that let this call through, carried through input_required rounds likewise. */
  approved?: string;
  /** When the logical call's first round arrived (ms since the epoch), carried likewise for its one audit record. */
  startedAt?: number;
  /**
   * The nonce of the gateway-sealed `requestState` this request carries, once the policy gate has
   * claimed it for this request (claimRetry): a retry of a tool call, prompt or resource read is
   * relayed only then, so that each state is good for one retry.
   */
  claimedState?: string;
}

export interface RelayContext {
  sealer: Sealer;
  parked: ParkedCalls;
  /** This replica's id: a parked call's state names the replica that holds it. */
  replicaId?: string;
  /** Log level a legacy client set, passed on to a modern server in the envelope. */
  logLevelOf?: (peer: ClientPeer) => string | undefined;
  /** The `Mcp-Param-*` headers a call to this server's tool must carry over HTTP. */
  paramHeaders?: (
    conn: UpstreamConnection,
    tool: string,
    args: JsonObject | undefined,
  ) => Promise<Record<string, string>>;
}

/** What the gateway keeps inside a `requestState` it hands to a modern client. */
interface SealedState {
  /** The server and method the state was minted for: a state is only good for the same call. */
  srv: string;
  m: string;
  /** A parked legacy call, or the upstream's own state wrapped. */
  park?: string;
  /** The replica holding the parked call. */
  rep?: string;
  up?: string;
  /** Reservations made in round one, so a retry is not counted again. */
  c?: Reservation[];
  /** The approval that let round one through. */
  apv?: string;
  /** When round one arrived. */
  t0?: number;
  /** Hash of what the call is about (name, arguments, URI): a retry must not change it. */
  ch: string;
  /** Random, new in every state: each state is good for one retry, claimed in the state store by it. */
  n: string;
}

/**
 * How long a claimed state stays claimed: longer than it opens (PARK_TTL_MS), with room for clocks
 * that differ, and minutes longer than an unanswered round waits before its own claim
 * (UNANSWERED_AFTER_MS in unanswered-rounds.ts), so that a retry's claim is still there then.
 */
export const STATE_CLAIM_TTL_MS = PARK_TTL_MS + 10 * 60_000;

/** The answer to a retry whose state was claimed before: by an earlier retry, or by a replay of one. */
export function stateUsed(): { error: JsonRpcErrorObject } {
  return fail(
    ErrorCode.InvalidParams,
    'Invalid requestState (used): it was answered already; each requestState is good for one retry. Start the call again without it.',
  );
}

const MAX_INPUT_ROUNDS = 16;
/** Methods whose 2026-07-28 results must carry caching hints. */
const CACHEABLE_METHODS = new Set([
  'tools/list',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'server/discover',
]);

export async function forward(
  conn: UpstreamConnection,
  peer: ClientPeer,
  req: ClientRequest,
  ctx: RelayContext,
): Promise<UpstreamAnswer> {
  try {
    await conn.start();
  } catch (err) {
    return fail(ErrorCode.ConnectionClosed, err instanceof Error ? err.message : String(err));
  }
  const upstreamEra = conn.era;
  if (!upstreamEra)
    return fail(ErrorCode.ConnectionClosed, `Upstream "${conn.server}" is restarting; try again shortly.`);
  if (req.era === 'legacy') req = withoutRetryFields(req);
  if (req.era === 'modern') {
    return upstreamEra === 'modern' ? modernToModern(conn, peer, req, ctx) : modernToLegacy(conn, peer, req, ctx);
  }
  if (upstreamEra === 'modern') return legacyToModern(conn, peer, req, ctx);
  return conn.send(peer, req.method, req.params, { relatedTo: req.id, ...(req.signal ? { signal: req.signal } : {}) });
}

/**
 * A 2025 client's request without the 2026-07-28 retry fields. `requestState` and
 * `inputResponses` are reserved on every client request, and servers built on the SDK hand them to
 * their handlers whatever the era; on the bridged path Gatehouse fills them in itself. A 2025 client
 * sending its own would reach the server with a state Gatehouse never sealed, claimed or checked
 * (one minted for another call, replayed, or forged) and answers to questions it was never asked.
 */
function withoutRetryFields(req: ClientRequest): ClientRequest {
  const p = req.params;
  if (!p || (!Object.hasOwn(p, 'requestState') && !Object.hasOwn(p, 'inputResponses'))) return req;
  const { requestState: _s, inputResponses: _i, ...params } = p;
  return { ...req, params };
}

function sendOpts(req: ClientRequest) {
  return { relatedTo: req.id, ...(req.signal ? { signal: req.signal } : {}) };
}

/** Send options for a request to a modern server, with the `Mcp-Param-*` headers HTTP needs. */
async function modernSendOpts(conn: UpstreamConnection, req: ClientRequest, ctx: RelayContext) {
  const base = sendOpts(req);
  const name = req.params?.name;
  if (
    req.method !== 'tools/call' ||
    conn.cfg.transport !== 'streamable-http' ||
    typeof name !== 'string' ||
    !ctx.paramHeaders
  )
    return base;
  const args = isObject(req.params?.arguments) ? req.params.arguments : undefined;
  const headers = await ctx.paramHeaders(conn, name, args).catch(() => ({}));
  return Object.keys(headers).length > 0 ? { ...base, headers } : base;
}

/**
 * Opens a `requestState` the gateway minted, for the request that claimed it; any failure is the
 * client's (invalid params).
 */
function openState(
  req: ClientRequest,
  peer: ClientPeer,
  ctx: RelayContext,
  server: string,
): SealedState | { error: JsonRpcErrorObject } {
  const s = openUnclaimed(req, peer, ctx, server);
  if ('error' in s) return s;
  // The policy gate claims a retry's state once per request before anything is forwarded; a call
  // that reaches the relay without that claim is refused rather than replayable.
  if (MRTR_METHODS.has(req.method) && req.claimedState !== s.n)
    return fail(
      ErrorCode.InvalidParams,
      'Invalid requestState (unchecked): Gatehouse did not check it for this request; start the call again without it.',
    );
  return s;
}

/** Opens a `requestState` the gateway minted and checks it is for this call; not whether it was claimed. */
function openUnclaimed(
  req: ClientRequest,
  peer: ClientPeer,
  ctx: RelayContext,
  server: string,
): SealedState | { error: JsonRpcErrorObject } {
  const opened = ctx.sealer.unseal<SealedState>(req.params?.requestState, peer.principal);
  if (!opened.ok)
    return fail(
      ErrorCode.InvalidParams,
      opened.reason === 'forged'
        ? 'Invalid requestState (forged): it was not issued to this caller by this gateway (or by a replica sharing its state store); start the call again without it.'
        : `Invalid requestState (${opened.reason}): start the call again without it.`,
    );
  const s = opened.payload;
  // A state without a nonce cannot be claimed, so it cannot be held to one retry.
  if (typeof s.n !== 'string' || s.n === '')
    return fail(ErrorCode.InvalidParams, 'Invalid requestState (malformed): start the call again without it.');
  if (s.srv !== server || s.m !== req.method || s.ch !== callHash(req))
    return fail(ErrorCode.InvalidParams, 'Invalid requestState: it was issued for another call.');
  return s;
}

/**
 * The replica holding the parked call a modern retry's `requestState` belongs to, when that is
 * another replica; undefined for anything else (including a state that does not open, which the
 * relay then refuses).
 */
export function parkedElsewhere(requestState: unknown, principal: string, ctx: RelayContext): string | undefined {
  const opened = ctx.sealer.unseal<SealedState>(requestState, principal);
  return opened.ok ? heldElsewhere(opened.payload, ctx) : undefined;
}

/** The other replica holding the parked call a state belongs to; undefined when it is held here or none is. */
function heldElsewhere(s: SealedState, ctx: RelayContext): string | undefined {
  return s.park && s.rep && s.rep !== ctx.replicaId ? s.rep : undefined;
}

/** The answer to a retry whose parked call is on a replica this one cannot reach. */
export function unreachableReplica(rep: string): UpstreamAnswer {
  return fail(
    ErrorCode.ConnectionClosed,
    `The call was parked on replica "${rep}", which is not reachable from this replica; make the call again (without requestState).`,
  );
}

/**
 * What a call is about: its name, arguments and URI. Quota and approvals carried from round one
 * are good only for the same call, so a retry that changes its arguments is refused.
 */
export function callHash(req: Pick<ClientRequest, 'params'>): string {
  const p = req.params ?? {};
  return createHash('sha256')
    .update(canonicalJson({ n: p.name ?? null, a: p.arguments ?? null, u: p.uri ?? null }))
    .digest('base64url');
}

function sealState(
  state: Omit<SealedState, 'ch' | 'n'>,
  peer: ClientPeer,
  ctx: RelayContext,
  req: ClientRequest,
): string {
  const full: SealedState = { ...state, ch: callHash(req), n: randomBytes(16).toString('base64url') };
  if (req.carried?.length) full.c = req.carried;
  if (req.approved) full.apv = req.approved;
  if (req.startedAt !== undefined) full.t0 = req.startedAt;
  return ctx.sealer.seal(full, peer.principal, PARK_TTL_MS);
}

/** A round's nonce, and when its requestState stops opening (ms since the epoch). */
export interface RoundMark {
  nonce: string;
  expires: number;
}

/**
 * The nonce of the requestState an input_required answer hands the client: one the relay sealed
 * (a server's round) or the gateway's own approval question; undefined for any other.
 */
export function roundNonce(answer: UpstreamAnswer, principal: string, ctx: RelayContext): RoundMark | undefined {
  if (!('result' in answer)) return undefined;
  const opened = ctx.sealer.unseal<{ n?: unknown }>(answer.result.requestState, principal);
  return opened.ok && typeof opened.payload.n === 'string'
    ? { nonce: opened.payload.n, expires: opened.expires }
    : undefined;
}

/**
 * What a retried call carries in its (gateway-sealed) requestState: the nonce to claim before
 * any of it is trusted, round one's reservations, approval and start time; undefined for a first
 * round, or a state that does not open (the relay then refuses the call).
 */
export function peekCarried(
  req: ClientRequest,
  peer: ClientPeer,
  ctx: RelayContext,
  server: string,
):
  | { nonce: string; reservations: Reservation[]; approved?: string; startedAt?: number; elsewhere?: string }
  | undefined {
  if (req.era !== 'modern' || req.params?.requestState === undefined) return undefined;
  // Checked as the relay checks it, but for the claim, which is what comes next.
  const s = openUnclaimed(req, peer, ctx, server);
  if ('error' in s) return undefined;
  const elsewhere = heldElsewhere(s, ctx);
  return {
    nonce: s.n,
    // A call parked on another replica is that replica's to claim and resume (the cluster sends
    // its retries there); this one only says it cannot reach it (the policy gate, which claims).
    ...(elsewhere ? { elsewhere } : {}),
    reservations: s.c ?? [],
    ...(s.apv ? { approved: s.apv } : {}),
    ...(typeof s.t0 === 'number' ? { startedAt: s.t0 } : {}),
  };
}

async function modernToModern(
  conn: UpstreamConnection,
  peer: ClientPeer,
  req: ClientRequest,
  ctx: RelayContext,
): Promise<UpstreamAnswer> {
  let params = req.params;
  if (params && params.requestState !== undefined) {
    const s = openState(req, peer, ctx, conn.server);
    if ('error' in s) return s;
    params = { ...params };
    if (typeof s.up === 'string') params.requestState = s.up;
    else delete params.requestState;
  }
  const answer = await conn.send(peer, req.method, params, await modernSendOpts(conn, req, ctx));
  if ('result' in answer && answer.result.resultType === 'input_required') {
    // A requestState is a string; anything else (null, say) is not one, and is not passed on.
    const up = typeof answer.result.requestState === 'string' ? answer.result.requestState : undefined;
    // The upstream's own state is wrapped, so that it is bound to this client and this call. A round
    // without one gets a state of Gatehouse's own all the same: it carries the round's quota and
    // approval to the retry, and its nonce lets the round be watched for its audit record. The
    // retry then reaches the upstream without a requestState, as the upstream sent none.
    const result = {
      ...answer.result,
      requestState: sealState({ srv: conn.server, m: req.method, ...(up === undefined ? {} : { up }) }, peer, ctx, req),
    };
    return { result };
  }
  return answer;
}

async function modernToLegacy(
  conn: UpstreamConnection,
  peer: ClientPeer,
  req: ClientRequest,
  ctx: RelayContext,
): Promise<UpstreamAnswer> {
  const base = stripEnvelope(req.params) ?? {};
  if (!MRTR_METHODS.has(req.method)) {
    const { requestState: _s, inputResponses: _i, ...params } = base;
    return shapeForModern(req.method, await conn.send(peer, req.method, params, sendOpts(req)));
  }
  let call: ParkedCall | undefined;
  if (base.requestState !== undefined) {
    const s = openState(req, peer, ctx, conn.server);
    if ('error' in s) return s;
    call = s.park ? ctx.parked.resume(s.park, base.inputResponses) : undefined;
    // Round one reached the upstream, which ran the call until it asked for input; this refusal is
    // Gatehouse's, not the call failing, so round one's reservations are not given back (a first
    // retry after a restart or a lost parked call used its quota; a replay never gets this far).
    if (!call)
      return spent(
        fail(
          ErrorCode.InvalidParams,
          'Invalid requestState: the call it belongs to has finished or expired; start it again.',
        ),
      );
  } else {
    const { requestState: _s, inputResponses: _i, ...params } = base;
    call = new ParkedCall(conn.server, req.method, {
      principal: peer.principal,
      ...(peer.identity ? { identity: peer.identity } : {}),
      capabilities: req.envelope?.clientCapabilities ?? {},
      ...(req.envelope?.clientInfo ? { clientInfo: req.envelope.clientInfo } : {}),
    });
    const started = call;
    void conn
      .send(started.peer, req.method, params, { relatedTo: req.id, signal: started.abort.signal })
      .then((a) => started.finish(a));
  }
  call.current = { peer, relatedTo: req.id };
  // While this request waits, the client hanging up cancels the call; once answered, it does not.
  const onAbort = () => call.abort.abort();
  req.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const outcome = await call.next();
    if (outcome.kind === 'done') return shapeForModern(req.method, outcome.answer);
    const inputRequests: JsonObject = {};
    for (const q of outcome.questions)
      inputRequests[q.key] = q.params ? { method: q.method, params: q.params } : { method: q.method };
    ctx.parked.park(call, outcome.questions);
    const requestState = sealState(
      { srv: conn.server, m: req.method, park: call.id, ...(ctx.replicaId ? { rep: ctx.replicaId } : {}) },
      peer,
      ctx,
      req,
    );
    return { result: { resultType: 'input_required', inputRequests, requestState } };
  } finally {
    req.signal?.removeEventListener('abort', onAbort);
    call.current = undefined;
  }
}

async function legacyToModern(
  conn: UpstreamConnection,
  peer: ClientPeer,
  req: ClientRequest,
  ctx: RelayContext,
): Promise<UpstreamAnswer> {
  const level = ctx.logLevelOf?.(peer);
  const envelope: Envelope = {
    protocolVersion: MODERN_PROTOCOL_VERSION,
    clientCapabilities: peer.capabilities,
    ...(peer.clientInfo ? { clientInfo: peer.clientInfo } : {}),
    ...(level ? { logLevel: level } : {}),
  };
  let params: JsonObject = withEnvelope(req.params, envelope);
  const opts = await modernSendOpts(conn, req, ctx);
  for (let round = 0; ; round++) {
    const answer = await conn.send(peer, req.method, params, opts);
    if ('error' in answer) return answer;
    const r = answer.result;
    if (r.resultType !== 'input_required') return { result: stripModernFields(r) };
    if (round >= MAX_INPUT_ROUNDS)
      return fail(
        ErrorCode.InternalError,
        `Upstream "${conn.server}" asked for input more than ${MAX_INPUT_ROUNDS} times in one call.`,
      );
    // Each embedded request becomes a real request to the legacy client.
    const inputResponses: JsonObject = {};
    for (const [key, ir] of Object.entries(isObject(r.inputRequests) ? r.inputRequests : {})) {
      if (!isObject(ir) || typeof ir.method !== 'string')
        return fail(ErrorCode.InternalError, `Upstream "${conn.server}" sent a malformed input request "${key}".`);
      const missing = missingCapability(peer, ir.method);
      if (missing)
        return fail(
          ErrorCode.InvalidRequest,
          `The server needs "${ir.method}" from the client, which did not declare the "${missing}" capability.`,
        );
      const a = await peer.request(ir.method, isObject(ir.params) ? ir.params : undefined, req.id);
      if ('error' in a) return fail(a.error.code, `The client could not answer ${ir.method}: ${a.error.message}`);
      inputResponses[key] = a.result;
    }
    params = { ...params, inputResponses };
    if (typeof r.requestState === 'string') params.requestState = r.requestState;
    else delete params.requestState;
  }
}

/** Results from a legacy server, dressed as a modern client expects them. */
export function shapeForModern(method: string, answer: UpstreamAnswer): UpstreamAnswer {
  if (!('result' in answer)) return answer;
  const result: JsonObject = { ...answer.result };
  result.resultType ??= 'complete';
  if (CACHEABLE_METHODS.has(method) && result.resultType === 'complete') {
    // A legacy server gives no caching hint; Gatehouse's own filtering may change any time.
    result.ttlMs ??= 0;
    result.cacheScope ??= 'private';
  }
  return { result };
}

/** Results from a modern server, without the fields a legacy client does not know. */
export function stripModernFields(r: JsonObject): JsonObject {
  const { resultType: _r, ttlMs: _t, cacheScope: _c, ...rest } = r;
  return rest;
}

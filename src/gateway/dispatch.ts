// What every downstream transport does with one message from a client: legacy messages belong to
// a session; modern (2026-07-28) requests stand alone and carry who they are in their envelope.
import { randomUUID } from 'node:crypto';
import {
  envelopeOf,
  eraOfRequest,
  isModernVersion,
  MODERN_METHODS,
  MODERN_PROTOCOL_VERSION,
  notAModernMethod,
} from '../mcp/era.js';
import {
  errorResponse,
  ErrorCode,
  isObject,
  isRequest,
  isResponse,
  type JsonObject,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '../mcp/jsonrpc.js';
import { SessionEnded, type ClientSession } from './client-session.js';
import type { Identity } from '../identity/grants.js';
import type { Endpoint } from './endpoint.js';
import type { ClientPeer, PeerAnswer } from './peer.js';
import type { ClientRequest } from './relay.js';
import { fail, type UpstreamAnswer } from './upstream-connection.js';

/** Where a modern request's related messages (progress, logging) go. */
export type ModernSink = (n: JsonRpcNotification) => void;

export function toResponse(id: JsonRpcId, a: UpstreamAnswer): JsonRpcResponse {
  return 'result' in a ? { jsonrpc: '2.0', id, result: a.result } : { jsonrpc: '2.0', id, error: a.error };
}

/** A modern request is its own peer: it cannot be sent requests, only notifications. */
export function modernPeer(
  req: JsonRpcRequest,
  identity: Identity,
  sink: ModernSink,
  isOpen: () => boolean,
): ClientPeer {
  const env = envelopeOf(req.params);
  return {
    id: `req-${randomUUID()}`,
    era: 'modern',
    principal: identity.principal,
    identity,
    capabilities: env?.clientCapabilities ?? {},
    ...(env?.clientInfo ? { clientInfo: env.clientInfo } : {}),
    ...(env?.logLevel ? { logLevel: env.logLevel } : {}),
    get open() {
      return isOpen();
    },
    request: async (): Promise<PeerAnswer> => ({
      error: { code: ErrorCode.InternalError, message: 'A 2026-07-28 request cannot be sent server requests.' },
    }),
    notify: (n) => sink(n),
  };
}

/** Checks a modern request's envelope; an unsupported version gets the spec's error. */
export function checkModernEnvelope(req: JsonRpcRequest): JsonRpcResponse | undefined {
  const env = envelopeOf(req.params);
  if (!env) {
    return errorResponse(
      req.id,
      ErrorCode.InvalidRequest,
      `A ${req.method} request must carry _meta["io.modelcontextprotocol/protocolVersion"].`,
    );
  }
  if (!isModernVersion(env.protocolVersion) || env.protocolVersion !== MODERN_PROTOCOL_VERSION) {
    return errorResponse(
      req.id,
      ErrorCode.UnsupportedProtocolVersion,
      `Unsupported protocol version: ${env.protocolVersion}`,
      {
        supported: [MODERN_PROTOCOL_VERSION],
        requested: env.protocolVersion,
      },
    );
  }
  return undefined;
}

/** Methods whose requests the gateway filters or decides. */
const GATED = new Set([
  'tools/call',
  'tools/list',
  'prompts/get',
  'prompts/list',
  'resources/read',
  'resources/list',
  'resources/templates/list',
]);

/** The gated methods by their letters alone: a look-alike must not pass as another method. */
const GATED_LETTERS = new Set([...GATED].map(lettersOf));

/** A method's letters, lower-cased after compatibility normalisation (`ｔｏｏｌｓ` is `tools`). */
function lettersOf(method: string): string {
  return method
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^a-z]/g, '');
}

/** Requests only a server sends to a client: a client sending one is forging the other side. */
const SERVER_TO_CLIENT = new Set(['sampling/createMessage', 'elicitation/create', 'roots/list']);

/**
 * Refuses a request the relay must not pass through: a spelling of a gated method that is not the
 * method itself (`Tools/Call`, `tools/call `, `tools//call`, `tools/call/`, `tools/call` with a NUL
 * or a zero-width space, `tools.call`), which the gate would not decide but a lenient server might
 * run, and a server-to-client request sent by the client.
 */
export function refusedMethod(req: JsonRpcRequest): JsonRpcResponse | undefined {
  if (!GATED.has(req.method) && GATED_LETTERS.has(lettersOf(req.method)))
    return errorResponse(req.id, ErrorCode.MethodNotFound, `Method not found: ${JSON.stringify(req.method)}.`);
  if (SERVER_TO_CLIENT.has(req.method))
    return errorResponse(
      req.id,
      ErrorCode.MethodNotFound,
      `Method not found: ${req.method} is a request a server sends to a client, not one a client sends.`,
    );
  return undefined;
}

/** Handles one modern request; resolves with the response to send. */
export async function handleModernRequest(
  endpoint: Endpoint,
  req: JsonRpcRequest,
  peer: ClientPeer,
  signal: AbortSignal | undefined,
): Promise<JsonRpcResponse> {
  const bad = checkModernEnvelope(req) ?? refusedMethod(req);
  if (bad) return bad;
  // The HTTP edge answers such a method 404 before it gets here; stdio and every other way in
  // must refuse it too, or ping, logging/setLevel or resources/subscribe would reach the server.
  if (!MODERN_METHODS.has(req.method))
    return errorResponse(req.id, ErrorCode.MethodNotFound, notAModernMethod(req.method));
  const creq: ClientRequest = {
    id: req.id,
    method: req.method,
    era: 'modern',
    ...(req.params ? { params: req.params } : {}),
  };
  const env = envelopeOf(req.params);
  if (env) creq.envelope = env;
  if (signal) creq.signal = signal;
  try {
    const answer = await withTaskOwnership(endpoint, peer.principal, creq, () => endpoint.request(peer, creq));
    return toResponse(req.id, privateToCaller(answer));
  } catch (err) {
    return internalError(req.id, err);
  }
}

/**
 * The answer with any caching hint narrowed to `private`. What Gatehouse answers depends on who
 * asks (the grant's servers and policy, which a reload can change): a server's `cacheScope:
 * "public"` on a read, call or prompt that the policy lets one grant have and hides from another
 * would let a shared cache serve it to the other, past the policy.
 */
function privateToCaller(answer: UpstreamAnswer): UpstreamAnswer {
  if (!('result' in answer) || answer.result.cacheScope === undefined || answer.result.cacheScope === 'private')
    return answer;
  return { result: { ...answer.result, cacheScope: 'private' } };
}

/**
 * Handles one message of a legacy session. Resolves with the response to a request, or
 * undefined for notifications, the client's responses, and requests it cancelled.
 * `identity` is the caller as authenticated for this message (same principal as the session's):
 * what it may do is decided with it, not with the token that opened the session.
 */
export async function handleSessionMessage(
  endpoint: Endpoint,
  session: ClientSession,
  msg: JsonRpcMessage,
  identity: Identity = session.identity,
): Promise<JsonRpcResponse | undefined> {
  session.lastSeen = Date.now();
  session.latest = identity;
  const caller = session.as(identity);
  if (isResponse(msg)) {
    session.takeResponse(msg);
    return undefined;
  }
  if (!isRequest(msg)) return void handleSessionNotification(endpoint, session, caller, msg as JsonRpcNotification);
  if (msg.method === 'initialize') {
    if (session.initialized)
      return errorResponse(msg.id, ErrorCode.InvalidRequest, 'This session is already initialized.');
    const a = await endpoint.initialize(session, msg.params ?? {});
    if ('result' in a) session.initialized = true;
    return toResponse(msg.id, a);
  }
  if (eraOfRequest(msg) === 'modern') {
    return errorResponse(
      msg.id,
      ErrorCode.InvalidRequest,
      `"${msg.method}" with a 2026-07-28 envelope cannot be sent inside a legacy session; send it without a session.`,
    );
  }
  const refused = refusedMethod(msg);
  if (refused) return refused;
  if (!session.initialized && msg.method !== 'ping') {
    return errorResponse(msg.id, ErrorCode.InvalidRequest, 'The session is not initialized: send "initialize" first.');
  }
  if (session.inflight.has(msg.id))
    return errorResponse(
      msg.id,
      ErrorCode.InvalidRequest,
      `Request id ${JSON.stringify(msg.id)} is already in use in this session.`,
    );
  const abort = new AbortController();
  session.inflight.set(msg.id, abort);
  try {
    const creq: ClientRequest = {
      id: msg.id,
      method: msg.method,
      era: 'legacy',
      signal: abort.signal,
      ...(msg.params ? { params: msg.params } : {}),
    };
    const a = await withTaskOwnership(endpoint, caller.principal, creq, () => endpoint.request(caller, creq, session));
    // A cancelled request gets no response (the client has stopped waiting for it).
    return abort.signal.aborted ? sessionEndedAnswer(msg.id, abort.signal) : toResponse(msg.id, a);
  } catch (err) {
    return sessionEndedAnswer(msg.id, abort.signal) ?? internalError(msg.id, err);
  } finally {
    session.inflight.delete(msg.id);
  }
}

/**
 * The answer to a request of a session the gateway ended while it was in flight (its grant was
 * revoked or expired): the client is told why, not left waiting. Undefined for a request the
 * client cancelled, or that is still running.
 */
export function sessionEndedAnswer(id: JsonRpcId, signal: AbortSignal): JsonRpcResponse | undefined {
  if (!signal.aborted || !(signal.reason instanceof SessionEnded)) return undefined;
  // Said without claiming the call did not run: the upstream may have answered just before.
  return errorResponse(
    id,
    ErrorCode.ConnectionClosed,
    `The session ended before this request's answer was sent: ${signal.reason.message}`,
  );
}

function handleSessionNotification(
  endpoint: Endpoint,
  session: ClientSession,
  caller: ClientPeer,
  n: JsonRpcNotification,
): void {
  switch (n.method) {
    case 'notifications/initialized':
      return;
    case 'notifications/cancelled': {
      const id = n.params?.requestId;
      if (typeof id === 'string' || typeof id === 'number') session.inflight.get(id)?.abort();
      return;
    }
    default:
      // Only notifications are relayed as notifications: a `tools/call` without an id would
      // otherwise reach a server undecided.
      if (n.method.startsWith('notifications/')) endpoint.notification(n, session, caller);
  }
}

export function internalError(id: JsonRpcId, err: unknown): JsonRpcResponse {
  // A failure inside the gateway is never the client's fault: -32603, never "invalid params".
  return errorResponse(
    id,
    ErrorCode.InternalError,
    `Gatehouse failed to handle the request: ${err instanceof Error ? err.message : String(err)}`,
  );
}

/** Methods that name one task by its `taskId`. */
const TASK_ID_METHODS = new Set(['tasks/get', 'tasks/result', 'tasks/cancel', 'tasks/update']);
/** Task ids remembered per endpoint at most; the oldest is forgotten first (its owner then cannot reach it). */
const MAX_TASK_OWNERS = 10_000;

/**
 * Which principal each task belongs to: the one whose task-augmented request the server answered
 * with it. A server shared by Gatehouse's clients sees one client, so its tasks/list holds every
 * client's tasks and its tasks/result hands any of them to whoever names the id. Keyed by principal
 * and id together, so that two sessions' own servers giving out the same id stay apart.
 */
class TaskOwners {
  private readonly owned = new Set<string>();

  record(principal: string, taskId: string): void {
    const key = taskKey(principal, taskId);
    this.owned.delete(key);
    this.owned.add(key);
    if (this.owned.size > MAX_TASK_OWNERS) this.owned.delete(this.owned.values().next().value!);
  }

  owns(principal: string, taskId: unknown): boolean {
    return typeof taskId === 'string' && this.owned.has(taskKey(principal, taskId));
  }
}

const taskKey = (principal: string, taskId: string): string => JSON.stringify([principal, taskId]);

/** Per endpoint, so that each gateway (and each of its endpoints) keeps its own. */
const taskOwners = new WeakMap<Endpoint, TaskOwners>();

function ownersOf(endpoint: Endpoint): TaskOwners {
  let owners = taskOwners.get(endpoint);
  if (!owners) taskOwners.set(endpoint, (owners = new TaskOwners()));
  return owners;
}

/**
 * Runs a request with tasks kept to the principal they were made for: a task-augmented request's
 * task is recorded as the caller's, tasks/list shows only the caller's, and a request naming
 * another principal's task (or one never seen) answers as for a task that does not exist, without
 * reaching the server.
 */
async function withTaskOwnership(
  endpoint: Endpoint,
  principal: string,
  req: Pick<ClientRequest, 'method' | 'params'>,
  run: () => Promise<UpstreamAnswer>,
): Promise<UpstreamAnswer> {
  const owners = ownersOf(endpoint);
  if (TASK_ID_METHODS.has(req.method) && !owners.owns(principal, req.params?.taskId))
    return fail(ErrorCode.InvalidParams, `Task not found: ${String(req.params?.taskId)}`);
  const answer = await run();
  if (!('result' in answer)) return answer;
  if (req.method === 'tasks/list') {
    const tasks = Array.isArray(answer.result.tasks) ? answer.result.tasks : [];
    const mine = tasks.filter((t) => isObject(t) && owners.owns(principal, t.taskId));
    return { result: { ...answer.result, tasks: mine } };
  }
  const task = answer.result.task;
  if (req.params?.task !== undefined && isObject(task) && typeof task.taskId === 'string')
    owners.record(principal, task.taskId);
  return answer;
}

/**
 * Whether a message from a server may go to a client of this principal: a task's status goes
 * only to the principal the task belongs to (a shared server announces every client's tasks).
 */
export function visibleTo(endpoint: Endpoint, principal: string, message: JsonRpcMessage): boolean {
  if (!('method' in message) || message.method !== 'notifications/tasks/status') return true;
  return ownersOf(endpoint).owns(principal, message.params?.taskId);
}

export type { JsonObject };

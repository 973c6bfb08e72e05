// `subscriptions/listen` (2026-07-28): the client opens a stream and names the notifications it
// wants. Gatehouse answers it itself, whatever the upstream's era, from the change notifications
// it already fans out.
import { META_SUBSCRIPTION_ID } from '../mcp/era.js';
import {
  errorResponse,
  ErrorCode,
  isObject,
  type JsonObject,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcError,
} from '../mcp/jsonrpc.js';
import { cleanBroadcast, type Endpoint } from './endpoint.js';
import type { ClientPeer } from './peer.js';

/** Resource subscriptions one listen stream may ask for. */
export const MAX_LISTEN_URIS = 1_000;

const FILTER_FOR: Record<string, string> = {
  'notifications/tools/list_changed': 'toolsListChanged',
  'notifications/prompts/list_changed': 'promptsListChanged',
  'notifications/resources/list_changed': 'resourcesListChanged',
};

export async function openListen(
  endpoint: Endpoint,
  req: JsonRpcRequest,
  write: (m: JsonRpcMessage) => void,
  peer?: ClientPeer,
): Promise<{ close: () => void } | JsonRpcError> {
  const requested = req.params?.notifications;
  if (!isObject(requested))
    return errorResponse(
      req.id,
      ErrorCode.InvalidParams,
      "Invalid params: 'notifications' is required and must be a subscription filter.",
    );
  const honored: JsonObject = {};
  for (const key of Object.values(FILTER_FOR)) if (requested[key] === true) honored[key] = true;
  const uris = Array.isArray(requested.resourceSubscriptions)
    ? requested.resourceSubscriptions.filter((u): u is string => typeof u === 'string')
    : [];
  // Each URI is a subscription held upstream for as long as the stream is open.
  if (uris.length > MAX_LISTEN_URIS)
    return errorResponse(
      req.id,
      ErrorCode.InvalidParams,
      `Invalid params: ${uris.length} resourceSubscriptions on one stream; at most ${MAX_LISTEN_URIS} are taken (open another stream for more).`,
    );
  const releases: (() => void)[] = [];
  const taken: string[] = [];
  for (const uri of uris) {
    const release = await endpoint.subscribeResource(uri, peer).catch(() => () => undefined);
    // A resource the caller's policy hides or denies is neither subscribed nor acknowledged.
    if (!release) continue;
    releases.push(release);
    taken.push(uri);
  }
  if (taken.length > 0) honored.resourceSubscriptions = taken;
  const wanted = new Set(taken);
  const stamp = (n: JsonRpcNotification): JsonRpcNotification => ({
    ...n,
    params: {
      ...n.params,
      _meta: { ...(isObject(n.params?._meta) ? n.params._meta : {}), [META_SUBSCRIPTION_ID]: req.id },
    },
  });
  write(
    stamp({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { notifications: honored } }),
  );
  const off = endpoint.listen((n) => {
    const clean = cleanBroadcast(n);
    if (!clean) return;
    if (clean.method === 'notifications/resources/updated') {
      if (typeof clean.params?.uri === 'string' && wanted.has(clean.params.uri)) write(stamp(clean));
      return;
    }
    const key = FILTER_FOR[clean.method];
    if (key && honored[key] === true) write(stamp(clean));
  }, peer);
  return {
    close: () => {
      off();
      releases.forEach((r) => r());
    },
  };
}

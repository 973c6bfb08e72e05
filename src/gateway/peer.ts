// The client side of the relay: whatever a message from an upstream server can be delivered to.
import type { Era } from '../mcp/era.js';
import type { Identity } from '../identity/grants.js';
import {
  ErrorCode,
  type JsonObject,
  type JsonRpcErrorObject,
  type JsonRpcId,
  type JsonRpcNotification,
} from '../mcp/jsonrpc.js';

/** What a server-to-client request came back with: a result or a JSON-RPC error. */
export type PeerAnswer = { result: JsonObject } | { error: JsonRpcErrorObject };

export interface ClientPeer {
  /** Unique per legacy session, per stdio connection, or per modern request. */
  readonly id: string;
  readonly era: Era;
  /** Who the client is, for binding state to it (grant and session, never what the client claims). */
  readonly principal: string;
  /** The verified identity behind the principal (its grant, if any). */
  readonly identity?: Identity;
  /** Capabilities the client declared (initialize, or the modern envelope). */
  readonly capabilities: JsonObject;
  readonly clientInfo?: JsonObject;
  /**
   * Sends a server-to-client request (sampling, elicitation, roots) to the client.
   * `relatedTo` is the client's request the upstream was serving, so HTTP can answer on its stream.
   * `signal` withdraws the request: where the client can be told, it is sent notifications/cancelled.
   */
  request(
    method: string,
    params: JsonObject | undefined,
    relatedTo: JsonRpcId | undefined,
    opts?: { signal?: AbortSignal },
  ): Promise<PeerAnswer>;
  /** Delivers a notification; `relatedTo` as for requests. */
  notify(notification: JsonRpcNotification, relatedTo: JsonRpcId | undefined): void;
  /** The logging level the client asked for (legacy: logging/setLevel; modern: the envelope). */
  readonly logLevel?: string;
  /** Whether the peer can still receive messages. */
  readonly open: boolean;
}

/**
 * A caller known by its identity alone, for deciding what it may see outside a request of its own
 * (the tool whose `Mcp-Param-*` headers the HTTP edge checks before the policy gate).
 */
export function callerPeer(identity: Identity): ClientPeer {
  return { ...gatewayPeer('caller', 'modern'), principal: identity.principal, identity };
}

/**
 * The gateway itself as a client, for the requests it sends on its own account (reading tool
 * lists, holding listen streams): a server that asks it something is told it is not supported.
 */
export function gatewayPeer(id: string, era: Era): ClientPeer {
  return {
    id,
    era,
    principal: 'gatehouse',
    capabilities: {},
    open: true,
    request: async () => ({ error: { code: ErrorCode.MethodNotFound, message: 'not supported' } }),
    notify: () => undefined,
  };
}

/** Whether a peer is Gatehouse itself (start-up, tool lists, listen streams), not a client. */
export function isGatewayPeer(peer: ClientPeer): boolean {
  return peer.id.startsWith('gatehouse');
}

// Legacy (2025) sessions shared between replicas. When a session is created its binding — the
// principal, the endpoint, what the client declared at initialize, and the upstream session it is
// tied to — is kept in the shared store; a replica that is sent a session id it does not know reads
// the binding and continues the session, for the same principal only. A session whose upstream
// state cannot leave its replica (a stdio child, an SSE stream) is recorded too, so that the
// client is told why it must initialize again instead of a bare "not found".
import type { ClientSession } from '../gateway/client-session.js';
import type { Endpoint, SessionUpstream } from '../gateway/endpoint.js';
import { isObject, type JsonObject } from '../mcp/jsonrpc.js';
import type { ClusterStore } from './cluster-store.js';

export interface SessionBinding {
  v: 1;
  principal: string;
  endpoint: string;
  replica: string;
  protocolVersion?: string;
  capabilities: JsonObject;
  clientInfo?: JsonObject;
  logLevel?: string;
  upstream: SessionUpstream;
}

/** How long a binding outlives the session's last request (renewed while it is used). */
export const BINDING_TTL_MS = 60 * 60_000;
const RENEW_AFTER_MS = 60_000;

export type BindingLookup =
  | { kind: 'none' }
  | { kind: 'stuck'; replica: string }
  | { kind: 'movable'; binding: SessionBinding & { upstream: { movable: true } } };

export class SessionBindings {
  private readonly renewed = new Map<string, number>();

  constructor(
    private readonly store: ClusterStore | undefined,
    readonly replica: string,
  ) {}

  /** Records a newly initialized session; failures only mean it cannot move. */
  async save(session: ClientSession, endpoint: Endpoint): Promise<void> {
    if (!this.store) return;
    const binding: SessionBinding = {
      v: 1,
      principal: session.principal,
      endpoint: endpoint.name,
      replica: this.replica,
      ...(session.protocolVersion ? { protocolVersion: session.protocolVersion } : {}),
      capabilities: session.capabilities,
      ...(session.clientInfo ? { clientInfo: session.clientInfo } : {}),
      ...(session.logLevel ? { logLevel: session.logLevel } : {}),
      upstream: endpoint.sessionUpstream?.(session) ?? { movable: false },
    };
    this.renewed.set(session.id, Date.now());
    await this.store.putSessionBinding(session.id, JSON.stringify(binding), BINDING_TTL_MS).catch(() => undefined);
  }

  /** Keeps a session's binding alive while it is used (at most one write a minute per session). */
  touch(session: ClientSession): void {
    if (!this.store) return;
    const last = this.renewed.get(session.id) ?? 0;
    if (Date.now() - last < RENEW_AFTER_MS) return;
    this.renewed.set(session.id, Date.now());
    void this.store
      .sessionBinding(session.id)
      .then((b) => (b ? this.store!.putSessionBinding(session.id, b, BINDING_TTL_MS) : undefined))
      .catch(() => undefined);
  }

  /** Forgets the session on this replica; `ended` (a DELETE) removes it for every replica. */
  async forget(id: string, ended: boolean): Promise<void> {
    this.renewed.delete(id);
    if (ended) await this.store?.dropSessionBinding(id).catch(() => undefined);
  }

  /** What the store says about a session this replica does not hold, for this caller and endpoint. */
  async lookup(id: string, principal: string, endpoint: Endpoint): Promise<BindingLookup> {
    if (!this.store) return { kind: 'none' };
    const raw = await this.store.sessionBinding(id).catch(() => undefined);
    const b = raw ? parse(raw) : undefined;
    // Another principal's session, or another endpoint's, is as unknown as no session at all.
    if (!b || b.principal !== principal || b.endpoint !== endpoint.name) return { kind: 'none' };
    if (!b.upstream.movable || !endpoint.resumeSession) return { kind: 'stuck', replica: b.replica };
    return { kind: 'movable', binding: b as SessionBinding & { upstream: { movable: true } } };
  }
}

function parse(raw: string): SessionBinding | undefined {
  try {
    const b = JSON.parse(raw) as Partial<SessionBinding>;
    if (b.v !== 1 || typeof b.principal !== 'string' || typeof b.endpoint !== 'string') return undefined;
    if (typeof b.replica !== 'string' || !isObject(b.upstream) || !isObject(b.capabilities)) return undefined;
    return b as SessionBinding;
  } catch {
    return undefined;
  }
}

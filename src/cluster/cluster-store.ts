// What replicas sharing one state store keep there about each other: the key that seals
// `requestState` (so a retry can be opened on any replica), the replicas that can be reached and
// where, and the bindings of legacy sessions (so a session can continue on another replica).
// Only a store shared by several processes over the network offers it (Redis); with the others a
// gateway is one replica and keeps all of this in memory.
import type { StateStore } from '../store/store.js';

export interface ClusterStore {
  /** The sealing key every replica uses: created by the first replica to ask, then read. */
  sharedSealKey(): Promise<Buffer>;
  /** Announces that replica `id` is reachable at `url` for the next `ttlMs`. */
  registerReplica(id: string, url: string, ttlMs: number): Promise<void>;
  /** Where replica `id` can be reached, if it announced itself and has not gone quiet. */
  replicaUrl(id: string): Promise<string | undefined>;
  unregisterReplica(id: string): Promise<void>;
  /** Keeps (or refreshes) a legacy session's binding for `ttlMs`. */
  putSessionBinding(id: string, binding: string, ttlMs: number): Promise<void>;
  sessionBinding(id: string): Promise<string | undefined>;
  dropSessionBinding(id: string): Promise<void>;
}

export function clusterStoreOf(store: StateStore): ClusterStore | undefined {
  return 'sharedSealKey' in store ? (store as StateStore & ClusterStore) : undefined;
}

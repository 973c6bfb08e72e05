// This gateway as one replica among several sharing a state store: its id, the URL other replicas
// reach it at (when configured), the heartbeat that keeps that URL registered, and the shared key
// that seals `requestState`. Without a shared store it is the only replica and all of this stays
// local: a random sealing key, nothing registered.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { ClusterStore } from './cluster-store.js';
import type { Sealer } from '../gateway/seal.js';

/** How often a replica renews its registration, and how long one lives without renewal. */
export const HEARTBEAT_MS = 5_000;
export const REGISTRATION_TTL_MS = 15_000;

export interface ReplicaOptions {
  id?: string;
  advertiseUrl?: string;
  log: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

export class Replica {
  readonly id: string;
  readonly advertiseUrl: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private keyed = false;
  private warned = false;

  constructor(
    readonly store: ClusterStore | undefined,
    private readonly sealer: Sealer,
    private readonly opts: ReplicaOptions,
  ) {
    // Hostname alone repeats when replicas share a host; the suffix keeps ids apart.
    this.id = opts.id ?? `${hostname()}-${randomBytes(3).toString('hex')}`;
    this.advertiseUrl = opts.advertiseUrl?.replace(/\/+$/, '');
  }

  /** Takes the shared sealing key and registers this replica; retried by the heartbeat until it works. */
  async start(): Promise<void> {
    if (!this.store) return;
    await this.beat();
    this.timer = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    const store = this.store!;
    try {
      if (!this.keyed) {
        this.sealer.useKey(await store.sharedSealKey());
        this.keyed = true;
      }
      if (this.advertiseUrl) await store.registerReplica(this.id, this.advertiseUrl, REGISTRATION_TTL_MS);
      this.warned = false;
    } catch (err) {
      if (!this.warned)
        this.opts.log(
          'warn',
          `replica "${this.id}" could not ${this.keyed ? 'renew its registration' : 'read the shared sealing key'} in the state store: ${err instanceof Error ? err.message : String(err)}`,
        );
      this.warned = true;
    }
  }

  /** Where another replica can be reached; undefined when it never advertised a URL or has gone. */
  async urlOf(id: string): Promise<string | undefined> {
    if (!this.store || id === this.id) return undefined;
    return this.store.replicaUrl(id).catch(() => undefined);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    if (this.store && this.advertiseUrl) await this.store.unregisterReplica(this.id).catch(() => undefined);
  }
}

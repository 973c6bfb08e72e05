// Grants: a credential given to one agent — a bearer token, the agent's name, the servers it may
// use, labels, expiry, and optionally a policy that replaces the server's. Tokens are kept only
// as SHA-256 hashes, so a leaked config dump or heap snapshot does not leak working tokens.
import { createHash, randomBytes } from 'node:crypto';
import type { GrantConfig } from '../config/schema.js';
import type { CompiledPolicy } from '../policy/compile.js';
import type { StateStore } from '../store/store.js';
import { BEARER_REQUIRED, bearerToken } from './bearer.js';
import type { StoredGrant } from './stored-grant.js';

export interface Grant {
  name: string;
  agent: string;
  servers: ReadonlySet<string>;
  /** Every server, present and future (a JWT whose servers claim is `*`); `servers` is then empty. */
  allServers?: true;
  labels: Record<string, string>;
  expiresAt?: number;
  /**
   * The grant is a bearer token's own claims (a JWT): it ends with that token, and the same client
   * may go on with a newer one, unlike a grant that is revoked or expires.
   */
  fromToken?: true;
  /** Replaced in place when the policy is reloaded. */
  policy?: CompiledPolicy;
}

/** Who is calling. With auth off every caller is the one anonymous principal. */
export interface Identity {
  principal: string;
  grant?: Grant;
}

export const ANONYMOUS: Identity = { principal: 'anonymous' };

/** How many distinct problems are remembered as logged before the memory starts again. */
const WARNED_MAX = 256;

export type AuthOutcome = { ok: true; identity: Identity } | { ok: false; reason: string };

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** What every token Gatehouse issues starts with, so that secret scanners can find leaked ones. */
export const TOKEN_PREFIX = 'gth_';

/** A new grant token: the prefix and 256 random bits. */
export function newGrantToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** The policy a stored grant names, compiled; undefined when it names none. Throws when it cannot be read. */
export type StoredPolicyLoader = (path: string) => Promise<CompiledPolicy>;

/** A grant found by name: where it comes from and whether its token is accepted now. */
export interface NamedGrant {
  grant: Grant;
  source: 'config' | 'store';
  status: 'active' | 'expired' | 'revoked';
  /** A stored grant's policy file (a config grant's policy is named in the config). */
  policyFile?: string;
}

export class GrantRegistry {
  private readonly byHash = new Map<string, Grant>();
  private readonly byName = new Map<string, Grant>();
  /** The grants this registry made from the state store (see refusalNow). */
  private readonly fromStoreGrants = new WeakSet<Grant>();
  private readonly warned = new Set<string>();
  /** Who looks again at once when a grant is revoked here (the HTTP front's IdentityWatch). */
  private readonly revokeListeners = new Set<() => void>();

  constructor(
    grants: Record<string, GrantConfig>,
    policyOf: (grant: string) => CompiledPolicy | undefined,
    /** Grants created at run time live here (`gatehouse grants create`); looked up on every request, so a revocation takes effect at once. */
    private readonly store?: StateStore,
    private readonly loadStoredPolicy?: StoredPolicyLoader,
    /** The gateway's log, for what is wrong on the operator's side (a grant's policy file). */
    private readonly log: (level: 'warn', message: string) => void = () => undefined,
  ) {
    for (const [name, g] of Object.entries(grants)) {
      const policy = policyOf(name);
      const grant: Grant = {
        name,
        agent: g.agent ?? name,
        servers: new Set(g.servers),
        labels: g.labels,
        ...(g.expires ? { expiresAt: Date.parse(g.expires) } : {}),
        ...(policy ? { policy } : {}),
      };
      this.byHash.set(hashToken(g.token), grant);
      this.byName.set(name, grant);
    }
  }

  /** Puts reloaded grant policies in force; returns the grants whose policy changed. */
  updatePolicies(next: Map<string, CompiledPolicy | undefined>): string[] {
    const changed: string[] = [];
    for (const grant of this.byHash.values()) {
      if (!next.has(grant.name)) continue;
      const after = next.get(grant.name);
      if (JSON.stringify(grant.policy?.source) === JSON.stringify(after?.source)) continue;
      if (after) grant.policy = after;
      else delete grant.policy;
      changed.push(grant.name);
    }
    return changed;
  }

  /**
   * Says that this gateway has just revoked a grant in its state store (the admin API), so that
   * what the grant holds open ends now rather than at the next periodic check. A revocation made
   * elsewhere (the CLI, another replica) is seen at that check.
   */
  revoked(): void {
    for (const listener of this.revokeListeners) listener();
  }

  /** Calls `listener` after each revoked(); returns the function that stops it. */
  onRevoked(listener: () => void): () => void {
    this.revokeListeners.add(listener);
    return () => this.revokeListeners.delete(listener);
  }

  /** Names of the grants the config file defines (a stored grant may not reuse one). */
  configNames(): Set<string> {
    return new Set(this.byName.keys());
  }

  /** The grants the config file defines. */
  configGrants(): Grant[] {
    return [...this.byName.values()];
  }

  /**
   * The grant of that name, from the config file or the state store (with its policy loaded),
   * whatever its status; undefined when there is none. Throws when a stored grant's policy
   * cannot be read. Lists the store's grants: for explaining and managing, not per request.
   */
  async named(name: string, now = Date.now()): Promise<NamedGrant | undefined> {
    const configured = this.byName.get(name);
    if (configured) return { grant: configured, source: 'config', status: statusAt(configured.expiresAt, now) };
    const stored = (await this.store?.listGrants())?.find((g) => g.name === name);
    if (!stored) return undefined;
    const status = stored.revoked !== undefined && stored.revoked <= now ? 'revoked' : statusAt(stored.expires, now);
    return {
      grant: await this.fromStore(stored),
      source: 'store',
      status,
      ...(stored.policy ? { policyFile: stored.policy } : {}),
    };
  }

  async authenticate(authorization: string | undefined, now = Date.now()): Promise<AuthOutcome> {
    const token = bearerToken(authorization);
    if (token === undefined) return { ok: false, reason: BEARER_REQUIRED };
    const hash = hashToken(token);
    const grant = this.byHash.get(hash) ?? (await this.stored(hash, now));
    if (!grant) return { ok: false, reason: 'The bearer token is not recognised.' };
    if ('failure' in grant) return { ok: false, reason: grant.failure };
    if (grant.expiresAt !== undefined && grant.expiresAt <= now)
      return { ok: false, reason: `The grant "${grant.name}" has expired.` };
    return { ok: true, identity: { principal: `grant:${grant.name}`, grant } };
  }

  private async stored(hash: string, now: number): Promise<Grant | { failure: string } | undefined> {
    if (!this.store) return undefined;
    const g: StoredGrant | undefined = await this.store.grantByTokenHash(hash);
    if (!g) return undefined;
    if (g.revoked !== undefined && g.revoked <= now) return { failure: `The grant "${g.name}" has been revoked.` };
    // A config grant added later under the same name owns it: the stored grant's token would share
    // its principal (its sessions, counters, approvals) and could no longer be revoked by name.
    if (this.byName.has(g.name))
      return {
        failure: `The grant "${g.name}" is defined in the config file; the token of the grant created earlier under that name is no longer accepted.`,
      };
    try {
      const grant = await this.fromStore(g);
      this.fromStoreGrants.add(grant);
      return grant;
    } catch (err) {
      // A grant whose policy cannot be read is refused rather than let through on the servers' policies.
      // The agent is told only that; the file's path and its problems are for the operator's log.
      this.warnOnce(
        `grant "${g.name}": its policy ${g.policy} cannot be used, so its token is refused: ${err instanceof Error ? err.message : String(err)}`,
      );
      return {
        failure: `The policy of grant "${g.name}" cannot be used, so its calls are refused until the operator fixes it.`,
      };
    }
  }

  /** Each distinct problem is logged once, not on every request of the grant it refuses. */
  private warnOnce(message: string): void {
    if (this.warned.has(message)) return;
    if (this.warned.size >= WARNED_MAX) this.warned.clear();
    this.warned.add(message);
    this.log('warn', message);
  }

  /**
   * Why a grant authenticated earlier is refused now (revoked or expired since), or undefined while
   * it is in force. For calls that wait, such as one held for approval: the decision to forward
   * belongs to the grant as it is when the call goes on, as for a request arriving then.
   */
  async refusalNow(identity: Identity, now = Date.now()): Promise<string | undefined> {
    const { reasons, unchecked } = await this.refusalsNow([identity], now);
    // A grant that could not be checked is not taken to be in force.
    if (unchecked) throw unchecked;
    return reasons[0];
  }

  /**
   * refusalNow for each of `identities`, reading the state store's grants once for all of them (the
   * open streams of many grants are looked at together). When the store cannot be read, the grants
   * it would decide get no reason and `unchecked` says why; an expiry is decided all the same.
   */
  async refusalsNow(
    identities: readonly Identity[],
    now = Date.now(),
  ): Promise<{ reasons: (string | undefined)[]; unchecked?: Error }> {
    let stored: Map<string, StoredGrant> | Error | undefined;
    const reasons = [];
    for (const { grant } of identities) {
      if (grant?.expiresAt !== undefined && grant.expiresAt <= now) {
        reasons.push(`The grant "${grant.name}" has expired.`);
        continue;
      }
      if (!grant || !this.fromStoreGrants.has(grant) || !this.store) {
        reasons.push(undefined);
        continue;
      }
      if (stored === undefined) {
        try {
          stored = new Map((await this.store.listGrants()).map((g) => [g.name, g]));
        } catch (err) {
          stored = err instanceof Error ? err : new Error(String(err));
        }
      }
      if (stored instanceof Error) {
        reasons.push(undefined);
        continue;
      }
      const g = stored.get(grant.name);
      if (!g || (g.revoked !== undefined && g.revoked <= now))
        reasons.push(`The grant "${grant.name}" has been revoked.`);
      else reasons.push(statusAt(g.expires, now) === 'expired' ? `The grant "${grant.name}" has expired.` : undefined);
    }
    return stored instanceof Error ? { reasons, unchecked: stored } : { reasons };
  }

  /** A stored grant as the gateway applies it; throws when its policy cannot be read. */
  private async fromStore(g: StoredGrant): Promise<Grant> {
    const grant: Grant = {
      name: g.name,
      agent: g.agent,
      servers: new Set(g.servers),
      labels: g.labels,
      ...(g.expires !== undefined ? { expiresAt: g.expires } : {}),
    };
    if (g.policy && this.loadStoredPolicy) grant.policy = await this.loadStoredPolicy(g.policy);
    return grant;
  }
}

/** Whether a grant that is not revoked is in force at `now`. */
export function statusAt(expiresAt: number | undefined, now: number): 'active' | 'expired' {
  return expiresAt !== undefined && expiresAt <= now ? 'expired' : 'active';
}

/** What an explanation of a call by this grant to this server says about the grant itself. */
export function grantNotes(found: NamedGrant | undefined, server: string): string[] {
  if (!found) return [];
  const { grant, status } = found;
  const notes: string[] = [];
  if (status !== 'active') notes.push(`grant ${grant.name} is ${status}: the gateway refuses its token (HTTP 401)`);
  if (!mayUse({ principal: `grant:${grant.name}`, grant }, server))
    notes.push(`grant ${grant.name} may not use server ${server}: the gateway refuses its calls there (HTTP 403)`);
  return notes;
}

/** Whether an identity may use a server (no grant: auth is off, every server). */
export function mayUse(identity: Identity, server: string): boolean {
  return !identity.grant || identity.grant.allServers === true || identity.grant.servers.has(server);
}

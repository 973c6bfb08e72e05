// Grants: a credential given to one agent — a bearer token, the agent's name, the servers it may
// use, labels, expiry, and optionally a policy that replaces the server's. Tokens are kept only
// as SHA-256 hashes, so a leaked config dump or heap snapshot does not leak working tokens.
import { createHash } from 'node:crypto';
import type { GrantConfig } from '../config/schema.js';
import type { CompiledPolicy } from '../policy/compile.js';

export interface Grant {
  name: string;
  agent: string;
  servers: ReadonlySet<string>;
  labels: Record<string, string>;
  expiresAt?: number;
  /** Replaced in place when the policy is reloaded. */
  policy?: CompiledPolicy;
}

/** Who is calling. With auth off every caller is the one anonymous principal. */
export interface Identity {
  principal: string;
  grant?: Grant;
}

export const ANONYMOUS: Identity = { principal: 'anonymous' };

export type AuthOutcome = { ok: true; identity: Identity } | { ok: false; reason: string };

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export class GrantRegistry {
  private readonly byHash = new Map<string, Grant>();

  constructor(grants: Record<string, GrantConfig>, policyOf: (grant: string) => CompiledPolicy | undefined) {
    for (const [name, g] of Object.entries(grants)) {
      const policy = policyOf(name);
      this.byHash.set(hashToken(g.token), {
        name,
        agent: g.agent ?? name,
        servers: new Set(g.servers),
        labels: g.labels,
        ...(g.expires ? { expiresAt: Date.parse(g.expires) } : {}),
        ...(policy ? { policy } : {}),
      });
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

  authenticate(authorization: string | undefined, now = Date.now()): AuthOutcome {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) return { ok: false, reason: 'A bearer token is required: send "Authorization: Bearer <token>".' };
    const grant = this.byHash.get(hashToken(m[1]!));
    if (!grant) return { ok: false, reason: 'The bearer token is not recognised.' };
    if (grant.expiresAt !== undefined && grant.expiresAt <= now)
      return { ok: false, reason: `The grant "${grant.name}" has expired.` };
    return { ok: true, identity: { principal: `grant:${grant.name}`, grant } };
  }
}

/** Whether an identity may use a server (no grant: auth is off, every server). */
export function mayUse(identity: Identity, server: string): boolean {
  return !identity.grant || identity.grant.servers.has(server);
}

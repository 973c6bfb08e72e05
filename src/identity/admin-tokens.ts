// The tokens that open the admin API and /metrics: `auth.admin_token` (role admin, as it always
// was) and the named tokens of `auth.admin_tokens`, each with a role. Only SHA-256 digests are
// kept, and a presented token is compared with every one of them in constant time, so neither
// the time taken nor the order of the config says which token (if any) came close.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { GatehouseConfig } from '../config/schema.js';
import { bearerToken } from './bearer.js';
import type { AdminRole } from './roles.js';

/** Who called the admin API: the token's name in the config and its role. */
export interface AdminCaller {
  name: string;
  role: AdminRole;
}

/** The caller of `auth.admin_token`: one token that may be shared by several people, so its name says no one. */
const sharedCallers = new WeakSet<AdminCaller>();

/** Whether this caller presented `auth.admin_token` (and not one of the named `auth.admin_tokens`). */
export function isSharedToken(caller: AdminCaller): boolean {
  return sharedCallers.has(caller);
}

/** The name under which `auth.admin_token` appears (in answers, `decided_by`, logs). */
export const LEGACY_ADMIN_TOKEN_NAME = 'admin_token';

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export class AdminTokens {
  private readonly entries: { digest: Buffer; caller: AdminCaller }[] = [];

  constructor(auth: Pick<GatehouseConfig['auth'], 'admin_token' | 'admin_tokens'>) {
    if (auth.admin_token !== undefined) {
      const caller: AdminCaller = { name: LEGACY_ADMIN_TOKEN_NAME, role: 'admin' };
      sharedCallers.add(caller);
      this.entries.push({ digest: digest(auth.admin_token), caller });
    }
    for (const [name, t] of Object.entries(auth.admin_tokens ?? {}))
      this.entries.push({ digest: digest(t.token), caller: { name, role: t.role } });
  }

  /** Whether any admin token is configured (without one the admin API is off). */
  get enabled(): boolean {
    return this.entries.length > 0;
  }

  /** The caller an `Authorization` header names, or undefined for no, another or an unknown token. */
  identify(authorization: string | undefined): AdminCaller | undefined {
    const token = bearerToken(authorization);
    if (token === undefined) return undefined;
    const presented = digest(token);
    let found: AdminCaller | undefined;
    // Every entry is compared, even after a match: the time does not depend on which one matched.
    for (const e of this.entries) if (timingSafeEqual(presented, e.digest)) found ??= e.caller;
    return found;
  }
}

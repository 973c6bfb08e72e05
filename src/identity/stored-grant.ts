// A grant created with `gatehouse grants create` or the admin API, as the state store keeps it:
// never the token, only its SHA-256 hash, so a copy of the store does not hand out credentials.

export interface StoredGrant {
  name: string;
  /** SHA-256 (hex) of the bearer token. */
  token_hash: string;
  agent: string;
  servers: string[];
  labels: Record<string, string>;
  /** Absolute path of a policy file that replaces the servers' policies for this grant. */
  policy?: string;
  /** Milliseconds since the epoch. */
  created: number;
  expires?: number;
  /** When it was revoked; a revoked grant authenticates no one. */
  revoked?: number;
}

// Sealed tokens for state that travels through the client and must come back untouched:
// the `requestState` of multi round-trip requests. AES-256-GCM gives integrity and
// confidentiality at once (an upstream's own state may hold things its client should not read),
// and the principal is bound in as additional authenticated data, so a state minted for one
// grant is refused when another presents it. node:crypto is used directly: the SDK's codec is
// signed only and needs a server context we do not have on the relay path.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export type UnsealFailure = 'malformed' | 'forged' | 'expired';

export class Sealer {
  private key: Buffer;
  /** Keys replaced by `useKey`: states they sealed still open until they expire. */
  private readonly retired: Buffer[] = [];

  constructor(key?: Buffer) {
    this.key = key ?? randomBytes(32);
    if (this.key.length !== 32) throw new RangeError('A sealing key must be 32 bytes.');
  }

  /** Seals with `key` from now on (the key replicas share, once the store gives it). */
  useKey(key: Buffer): void {
    if (key.length !== 32) throw new RangeError('A sealing key must be 32 bytes.');
    if (key.equals(this.key)) return;
    this.retired.unshift(this.key);
    this.retired.length = Math.min(this.retired.length, 2);
    this.key = key;
  }

  seal(payload: unknown, principal: string, ttlMs: number, now = Date.now()): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(principal, 'utf8'));
    const body = Buffer.from(JSON.stringify({ p: payload, e: now + ttlMs }), 'utf8');
    const sealed = Buffer.concat([cipher.update(body), cipher.final()]);
    return `gh1.${Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64url')}`;
  }

  unseal<T = unknown>(
    token: unknown,
    principal: string,
    now = Date.now(),
  ): { ok: true; payload: T; expires: number } | { ok: false; reason: UnsealFailure } {
    if (typeof token !== 'string' || !token.startsWith('gh1.') || token.length > 65_536)
      return { ok: false, reason: 'malformed' };
    const raw = Buffer.from(token.slice(4), 'base64url');
    if (raw.length < 29) return { ok: false, reason: 'malformed' };
    for (const key of [this.key, ...this.retired]) {
      const body = open(key, raw, principal);
      if (body === undefined) continue;
      if (typeof body?.e !== 'number' || body.e < now) return { ok: false, reason: 'expired' };
      return { ok: true, payload: body.p as T, expires: body.e };
    }
    return { ok: false, reason: 'forged' };
  }
}

function open(key: Buffer, raw: Buffer, principal: string): { p?: unknown; e?: unknown } | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(principal, 'utf8'));
    decipher.setAuthTag(raw.subarray(12, 28));
    return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')) as {
      p?: unknown;
      e?: unknown;
    };
  } catch {
    return undefined;
  }
}

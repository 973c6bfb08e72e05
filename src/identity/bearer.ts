// The one reading of an `Authorization: Bearer <token>` header, for grants, JWTs and admin tokens.

/** What a caller without a usable bearer token is told. */
export const BEARER_REQUIRED = 'A bearer token is required: send "Authorization: Bearer <token>".';

/** The token of a whole `Bearer <token>` header (any case, one token), or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
}

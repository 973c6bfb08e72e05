// Reads a `redis://` or `rediss://` state URL: host, port, database, credentials, and the key
// prefix that lets several Gatehouse deployments (or test runs) share one Redis.
//
//   redis://[[user]:password@]host[:port][/db][?prefix=gatehouse:]
import type { RedisOptions } from 'ioredis';

export const DEFAULT_REDIS_PREFIX = 'gatehouse:';

export interface RedisTarget {
  options: RedisOptions;
  prefix: string;
  /** host:port/db, for messages (never the password). */
  where: string;
}

export class RedisUrlError extends Error {
  readonly code = 'STATE_URL_INVALID';
}

export function parseRedisUrl(url: string): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RedisUrlError(`The state URL "${url}" is not a valid URL; write redis://HOST:PORT/DB.`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new RedisUrlError(`The state URL "${url}" must start with redis:// or rediss://.`);
  const dbText = u.pathname.replace(/^\//, '') || '0';
  if (!/^\d+$/.test(dbText))
    throw new RedisUrlError(`The database in the state URL must be a number (redis://HOST:PORT/0), not "${dbText}".`);
  for (const key of u.searchParams.keys())
    if (key !== 'prefix')
      throw new RedisUrlError(`The state URL has an unknown parameter "${key}"; the only one is prefix.`);
  const prefix = u.searchParams.get('prefix') ?? DEFAULT_REDIS_PREFIX;
  if (prefix.length === 0) throw new RedisUrlError('The key prefix in the state URL must not be empty.');
  const host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = u.port ? Number(u.port) : 6379;
  const options: RedisOptions = {
    host,
    port,
    db: Number(dbText),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: { servername: host } } : {}),
  };
  return { options, prefix, where: `${host}:${port}/${dbText}` };
}

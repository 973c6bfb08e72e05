// Opens the store a config names: `memory:`, `sqlite:PATH` (PATH relative to the config's folder), or
// `redis://HOST:PORT/DB?prefix=P` (shared by several replicas).
import { isAbsolute, resolve } from 'node:path';
import { MemoryStore } from './memory-store.js';
import { RedisStore } from './redis-store.js';
import { SqliteStore } from './sqlite-store.js';
import type { StateStore } from './store.js';

export function openStore(url: string, baseDir: string): StateStore {
  if (url === 'memory:' || url === 'memory') return new MemoryStore();
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    return new SqliteStore(path === ':memory:' || isAbsolute(path) ? path : resolve(baseDir, path));
  }
  if (url.startsWith('redis://') || url.startsWith('rediss://')) return new RedisStore(url);
  throw new Error(`The state store "${url}" is not available: use memory:, sqlite:PATH or redis://HOST:PORT/DB.`);
}

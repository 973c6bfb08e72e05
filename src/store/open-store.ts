// Opens the store a config names: `memory:` or `sqlite:PATH` (PATH relative to the config's folder).
import { isAbsolute, resolve } from 'node:path';
import { MemoryStore } from './memory-store.js';
import { SqliteStore } from './sqlite-store.js';
import type { StateStore } from './store.js';

export function openStore(url: string, baseDir: string): StateStore {
  if (url === 'memory:' || url === 'memory') return new MemoryStore();
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    return new SqliteStore(path === ':memory:' || isAbsolute(path) ? path : resolve(baseDir, path));
  }
  throw new Error(`The state store "${url}" is not available in this version: use memory: or sqlite:PATH.`);
}

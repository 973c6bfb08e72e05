// The policy files that stored grants name, compiled once and recompiled when the file changes:
// an operator edits a grant's policy as they edit any other, and the next request uses it. A file
// is looked at again at most once a second, so a busy grant does not cost a stat per request.
import { stat } from 'node:fs/promises';
import { readStructuredFile } from '../config/structured-file.js';
import { loadPolicy, type CompiledPolicy } from '../policy/compile.js';
import type { StoredPolicyLoader } from './grants.js';

const RECHECK_MS = 1000;

export function storedPolicyLoader(now: () => number = Date.now): StoredPolicyLoader {
  const cache = new Map<string, { mtimeMs: number; size: number; checked: number; policy: CompiledPolicy }>();
  return async (path) => {
    const hit = cache.get(path);
    if (hit && now() - hit.checked < RECHECK_MS) return hit.policy;
    const st = await stat(path);
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) {
      hit.checked = now();
      return hit.policy;
    }
    // A file that no longer compiles throws: the grant is refused, never let through unchecked.
    const policy = loadPolicy(await readStructuredFile(path));
    cache.set(path, { mtimeMs: st.mtimeMs, size: st.size, checked: now(), policy });
    return policy;
  };
}

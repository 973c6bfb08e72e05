// The state store a config names, opened from the command line for the commands that manage what
// it holds (pins, approvals, grants). A running gateway sharing the store sees their changes.
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { openStore } from '../store/open-store.js';
import type { StateStore } from '../store/store.js';
import { UsageError } from './io.js';

/**
 * Runs `fn` with the config's state store open. `what` names what the command manages and
 * `api` where the admin API serves it, for the message when the store cannot be opened here.
 */
export async function withConfigStore<T>(
  config: string | undefined,
  what: string,
  api: string,
  fn: (store: StateStore, loaded: LoadedConfig) => Promise<T>,
): Promise<T> {
  const loaded = await loadConfig({ file: config });
  const state = loaded.config.state;
  if (state.startsWith('memory')) {
    throw new UsageError(
      `${what} in a memory: state store live only inside the running gateway: use its admin API (${api}), or state: sqlite:PATH or redis://HOST:PORT/DB to manage them from the command line.`,
    );
  }
  const store = openStore(state, loaded.dir);
  try {
    return await fn(store, loaded);
  } finally {
    await store.close();
  }
}

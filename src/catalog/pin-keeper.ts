// Keeps the pins of what the gateway reads from servers, in the state store.
import type { JsonObject } from '../mcp/jsonrpc.js';
import type { StateStore } from '../store/store.js';
import type { PinKeeper } from '../gateway/tool-directory.js';
import { checkPin, pinnedDefinition } from './pins.js';

export class StorePinKeeper implements PinKeeper {
  constructor(
    private readonly store: StateStore,
    private readonly log: (msg: string) => void,
  ) {}

  async check(server: string, tool: JsonObject): Promise<{ blocked: boolean; hash: string }> {
    const existing = await this.store.getPin(server, String(tool.name));
    const { verdict, store } = checkPin(existing, server, tool, Date.now());
    if (store) await this.store.putPin(store);
    if (verdict === 'changed' && store?.pending) {
      this.log(
        `tool "${server}/${String(tool.name)}" changed since it was pinned; calls are blocked until an operator reviews it with: gatehouse pins diff ${shellWord(server)}, then runs: gatehouse pins accept ${shellWord(server)} ${shellWord(String(tool.name))}`,
      );
    }
    return { blocked: verdict === 'changed', hash: pinnedDefinition(tool).hash };
  }

  /** Whether a blocked tool has been accepted since (by an operator, possibly in another process). */
  async accepted(server: string, tool: string, hash: string | undefined): Promise<boolean> {
    const pin = await this.store.getPin(server, tool);
    return pin !== undefined && hash !== undefined && pin.hash === hash;
  }
}

/**
 * A name as one word of a shell command an operator may paste: a server names its own tools, and
 * `read_file; curl … | sh` must not become a command of its own.
 */
export function shellWord(name: string): string {
  return /^[A-Za-z0-9_./-]+$/.test(name) ? name : `'${name.replace(/'/g, `'\\''`)}'`;
}

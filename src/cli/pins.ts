// `gatehouse pins list | diff <server> | accept <server> [tool]`: the tool-definition pins in the
// state store. A running gateway sharing the store notices an accepted pin on the next call.
import { acceptPins, pinDiff, type Pin } from '../catalog/pins.js';
import { withConfigStore } from './state-store.js';
import type { StateStore } from '../store/store.js';
import { EXIT_FAILURE, EXIT_OK, type CliIo } from './io.js';

function withStore<T>(config: string | undefined, fn: (store: StateStore) => Promise<T>): Promise<T> {
  return withConfigStore(config, 'pins', '/api/v1/pins', fn);
}

export async function pinsListCommand(
  opts: { config?: string; json?: boolean; server?: string },
  io: CliIo,
): Promise<number> {
  const pins = await withStore(opts.config, (s) => s.listPins(opts.server));
  if (opts.json) {
    io.out(JSON.stringify(pins.map(view), null, 2));
    return EXIT_OK;
  }
  if (pins.length === 0) {
    io.out('No pins yet: tools are pinned when the gateway first lists them.');
    return EXIT_OK;
  }
  const rows = pins.map((p) => [
    p.server,
    p.tool,
    p.pending ? 'CHANGED (blocked)' : 'pinned',
    new Date(p.pending?.seenAt ?? p.pinnedAt).toISOString(),
  ]);
  const widths = [0, 1, 2].map((i) =>
    Math.max(...rows.map((r) => r[i]!.length), ['SERVER', 'TOOL', 'STATUS'][i]!.length),
  );
  const line = (r: string[]) => r.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c)).join('  ');
  io.out([line(['SERVER', 'TOOL', 'STATUS', 'SINCE']), ...rows.map(line)].join('\n'));
  const changed = pins.filter((p) => p.pending).length;
  if (changed > 0)
    io.out(
      `\n${changed} tool(s) changed since pinned: review with "gatehouse pins diff <server>", then "gatehouse pins accept <server> [tool]".`,
    );
  return EXIT_OK;
}

export async function pinsDiffCommand(server: string, opts: { config?: string }, io: CliIo): Promise<number> {
  const pins = await withStore(opts.config, (s) => s.listPins(server));
  const changed = pins.filter((p) => p.pending);
  if (changed.length === 0) {
    io.out(`No tool of "${server}" has changed since it was pinned.`);
    return EXIT_OK;
  }
  io.out(changed.map(pinDiff).join('\n'));
  return EXIT_OK;
}

export async function pinsAcceptCommand(
  server: string,
  tool: string | undefined,
  opts: { config?: string; hash?: string },
  io: CliIo,
): Promise<number> {
  return withStore(opts.config, async (store) => {
    const accepted = await acceptPins(store, server, tool, opts.hash);
    if (accepted.length === 0) {
      const which = opts.hash ? ` of sha256 ${opts.hash} (run "gatehouse pins diff ${server}" again)` : '';
      io.err(
        tool
          ? `Tool "${server}/${tool}" has no change${which} waiting to be accepted.`
          : `No tool of "${server}" has a change${which} waiting to be accepted.`,
      );
      return EXIT_FAILURE;
    }
    for (const p of accepted) io.out(`accepted ${p.server}/${p.tool}`);
    return EXIT_OK;
  });
}

function view(p: Pin) {
  return {
    server: p.server,
    tool: p.tool,
    status: p.pending ? 'changed' : 'pinned',
    hash: p.hash,
    pinned_at: new Date(p.pinnedAt).toISOString(),
    ...(p.pending ? { pending_hash: p.pending.hash, changed_at: new Date(p.pending.seenAt).toISOString() } : {}),
  };
}

// The catalog, suggested policies and pins in the admin API (docs/catalog.md). A `server` in the
// path is a configured server: the dispatcher answers 404 before these run.
import { readCatalog } from '../catalog/catalog.js';
import { acceptPins, pinDiff } from '../catalog/pins.js';
import { suggestPolicy, suggestPolicyYaml } from '../catalog/suggest.js';
import type { AdminRequest } from './admin-routes.js';
import { sendJson } from './respond.js';

/** GET /catalog[/<server>] (or ?server=): every tool with its category, risk, reasons and pin status. */
export async function catalogRoute({ core, res, url, params }: AdminRequest): Promise<void> {
  const server = params.server ?? url.searchParams.get('server') ?? undefined;
  if (server !== undefined && !core.pool.has(server))
    return sendJson(res, 404, { error: `Unknown server "${server}".` });
  sendJson(res, 200, { servers: await readCatalog(core.pool, server ? [server] : undefined) });
}

/** GET /policy/suggest/<server>: the recommended policy, as JSON and as commented YAML. */
export async function suggestRoute({ core, res, params }: AdminRequest): Promise<void> {
  const server = params.server!;
  const [c] = await readCatalog(core.pool, [server]);
  if (!c?.ok) return sendJson(res, 502, { error: `Server "${server}" could not be read: ${c?.error}` });
  sendJson(res, 200, { server, policy: suggestPolicy(c.tools), yaml: suggestPolicyYaml(server, c.tools) });
}

/** GET /pins[/<server>]: the pins and their status. */
export async function pinsRoute({ core, res, params }: AdminRequest): Promise<void> {
  sendJson(res, 200, { pins: await core.store.listPins(params.server) });
}

/** GET /pins/<server>/diff: the changed definitions waiting to be accepted, as diffs. */
export async function pinDiffRoute({ core, res, params }: AdminRequest): Promise<void> {
  const changed = (await core.store.listPins(params.server)).filter((p) => p.pending);
  sendJson(res, 200, { changes: changed.map((p) => ({ server: p.server, tool: p.tool, diff: pinDiff(p) })) });
}

/**
 * POST /pins/<server>/accept[/<tool>][?hash=<sha256>]: accepts the changes (with `hash`, only a
 * change of that definition, as its diff showed it); connected clients hear the list changed.
 */
export async function acceptPinsRoute({ core, res, params, url }: AdminRequest): Promise<void> {
  const server = params.server!;
  const accepted = await acceptPins(core.store, server, params.tool, url.searchParams.get('hash') ?? undefined);
  if (accepted.length > 0) core.pool.announce(server, 'notifications/tools/list_changed');
  sendJson(res, accepted.length > 0 ? 200 : 404, { accepted: accepted.map((p) => p.tool) });
}

// What every front end of the gateway shares: the upstream pool, the policies, the state store,
// the endpoints built on them, and the relay's context. Everything that can be wrong with a
// policy is found here, before the first request.
import type { LoadedConfig } from '../config/load.js';
import { readStructuredFile } from '../config/structured-file.js';
import { ConfigError } from '../config/errors.js';
import { GrantRegistry } from '../identity/grants.js';
import { JwtAuthenticator } from '../identity/jwt.js';
import { Limiter } from '../limits/limiter.js';
import { loadPolicy, PolicyError, type CompiledPolicy } from '../policy/compile.js';
import { openStore } from '../store/open-store.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { openAuditLog } from '../audit/open-audit-log.js';
import type { AuditLog } from '../audit/record.js';
import type { StateStore } from '../store/store.js';
import { AggregateEndpoint } from './aggregate-endpoint.js';
import { ClientSession } from './client-session.js';
import { ServerEndpoint, type Endpoint } from './endpoint.js';
import { ParkedCalls } from './parked-calls.js';
import { PolicyGate } from './policy-gate.js';
import type { RelayContext } from './relay.js';
import { Sealer } from './seal.js';
import { UpstreamPool, type Log } from './upstream-pool.js';
import { paramHeadersFor } from '../mcp/param-headers.js';
import { StorePinKeeper } from '../catalog/pin-keeper.js';
import { PolicyReloader } from '../policy/reload.js';
import { GatewayMetrics } from '../observability/metrics.js';
import { ApprovalService } from '../approvals/service.js';
import { storedPolicyLoader } from '../identity/stored-policies.js';
import { approvalPageUrl } from '../approvals/links.js';
import { attachApprovalChannels } from '../approvals/channels.js';
import type { WebhookNotifier } from '../approvals/webhooks.js';
import { redactArguments } from '../audit/redact.js';
import { clusterStoreOf } from '../cluster/cluster-store.js';
import { Replica } from '../cluster/replica.js';

export interface GatewayCore {
  pool: UpstreamPool;
  ctx: RelayContext;
  store: StateStore;
  /** The audit log; `write` never waits, close() flushes it. */
  audit: AuditLog;
  approvals: ApprovalService;
  /** Announces new approvals to the configured webhook channels; keeps how each delivery went. */
  webhooks: WebhookNotifier;
  grants: GrantRegistry;
  /** Verifies bearer JWTs; present only when auth.mode is jwt. */
  jwt?: JwtAuthenticator;
  policies: ReadonlyMap<string, CompiledPolicy>;
  reloader: PolicyReloader;
  /** Prometheus metrics; the call path feeds `observe`, scrapes read the rest. */
  metrics: GatewayMetrics;
  /** This gateway as one of the replicas sharing its state store. */
  replica: Replica;
  /** Decides and forwards every call; watches server rounds whose retry may never come. */
  gate: PolicyGate;
  /** The endpoint of one server, or of all of them for `*`. */
  endpoint(name: string): Endpoint | undefined;
  /** Where people reach this gateway (approval links): set once it listens. */
  links: { base?: string };
  /** The config file's folder: relative paths (grant policies created through the admin API) start here. */
  configDir: string;
  /** How HTTP callers are identified (auth.mode): grants are checked only under `grants`. */
  authMode: 'none' | 'grants' | 'jwt';
  close(): Promise<void>;
}

type PolicyRef = string | Record<string, unknown> | undefined;

/** Loads a policy from a path or inline value; problems carry the config path that named it. */
async function policyOf(ref: PolicyRef, where: string): Promise<CompiledPolicy | undefined> {
  if (ref === undefined) return undefined;
  try {
    return loadPolicy(typeof ref === 'string' ? await readStructuredFile(ref) : ref);
  } catch (err) {
    if (err instanceof PolicyError) {
      throw new PolicyError(
        err.problems.map((p) => ({
          path: `${where}${typeof ref === 'string' ? ` (${ref})` : ''} ${p.path}`,
          message: p.message,
        })),
      );
    }
    throw err;
  }
}

/** Every policy a config names, compiled; problems carry the config path that named them. */
export async function compilePolicies(
  loaded: LoadedConfig,
): Promise<{ servers: Map<string, CompiledPolicy>; grants: Map<string, CompiledPolicy | undefined> }> {
  const servers = new Map<string, CompiledPolicy>();
  for (const [name, s] of Object.entries(loaded.config.servers)) {
    const p = await policyOf(s.policy as PolicyRef, `/servers/${name}/policy`);
    if (p) servers.set(name, p);
  }
  const grants = new Map<string, CompiledPolicy | undefined>();
  for (const [name, g] of Object.entries(loaded.config.grants))
    grants.set(name, await policyOf(g.policy as PolicyRef, `/grants/${name}/policy`));
  return { servers, grants };
}

function sourceOf(p: CompiledPolicy | undefined): string {
  return p ? JSON.stringify(p.source) : '';
}

export async function buildGatewayCore(loaded: LoadedConfig, log: Log): Promise<GatewayCore> {
  const { config } = loaded;
  // JWT mode verifies bearer tokens against the identity provider instead of configured grants.
  let jwt: JwtAuthenticator | undefined;
  if (config.auth.mode === 'jwt') {
    if (!config.auth.jwt) {
      throw new ConfigError('CONFIG_INVALID', loaded.path, 'auth.mode "jwt" needs auth.jwt.', [
        { path: '/auth', message: 'auth mode "jwt" needs auth.jwt: the issuer, the audience, and jwks_url or keys' },
      ]);
    }
    jwt = new JwtAuthenticator(config.auth.jwt, log);
  }
  const compiled = await compilePolicies(loaded);
  // The gate reads this map on every call; a reload replaces its entries in place.
  const policies = compiled.servers;
  for (const name of Object.keys(config.servers)) {
    if (!policies.has(name))
      log(
        'warn',
        `server "${name}" has no policy: every call to it is allowed. Add "policy:" to its entry to control it.`,
      );
  }

  const store = openStore(config.state, loaded.dir);
  const audit = openAuditLog(config.audit, loaded.dir, {
    onEvent: (level, msg) => log(level, msg),
    state: config.state,
    ...(store instanceof SqliteStore ? { stateFile: store.connection } : {}),
  });
  const approvals = new ApprovalService(store);
  approvals.maxPendingPerGrant = config.limits.max_pending_approvals_per_grant;
  const grants = new GrantRegistry(
    config.grants,
    (name) => compiled.grants.get(name),
    store,
    storedPolicyLoader(),
    log,
  );
  const keeper = new StorePinKeeper(store, (msg) => log('warn', msg));
  const pool = new UpstreamPool(config.servers, log, (server) =>
    config.servers[server]?.pins === 'off' ? undefined : keeper,
  );
  const metrics = new GatewayMetrics();
  const parked = new ParkedCalls();
  const sealer = new Sealer();
  const replica = new Replica(clusterStoreOf(store), sealer, {
    ...(config.cluster?.id ? { id: config.cluster.id } : {}),
    ...(config.cluster?.advertise_url ? { advertiseUrl: config.cluster.advertise_url } : {}),
    log,
  });
  const ctx: RelayContext = {
    sealer,
    parked,
    replicaId: replica.id,
    logLevelOf: (peer) => (peer instanceof ClientSession ? peer.logLevel : undefined),
    paramHeaders: async (conn, tool, args) => {
      const entry = await pool.tools.tool(conn, tool);
      return entry ? paramHeadersFor(entry.paramHeaders, args) : {};
    },
  };
  const links: { base?: string } = {};
  const webhooks = attachApprovalChannels(approvals, loaded, compiled, links, log);
  const gate = new PolicyGate(
    policies,
    new Limiter(store, {
      failureMode: (server) => config.servers[server]?.state_failure ?? 'closed',
      onStoreError: () => metrics.limiterStoreError(),
      log,
    }),
    ctx,
    pool,
    (server) => (config.servers[server]?.pins === 'off' ? undefined : keeper),
    approvals,
    {
      audit,
      redact: (args, paths) => redactArguments(args, { mode: config.audit.arguments, paths }),
      observe: (record) => metrics.observe(record),
      storeError: () => metrics.limiterStoreError(),
      pageUrl: (approval, key) => (links.base ? approvalPageUrl(links.base, approval.id, key) : undefined),
      refusalNow: (identity) => grants.refusalNow(identity),
    },
  );
  const endpoints = new Map<string, Endpoint>();
  for (const name of Object.keys(config.servers)) endpoints.set(name, new ServerEndpoint(name, pool, ctx, gate));
  endpoints.set('*', new AggregateEndpoint(pool, ctx, gate));
  const reloader = new PolicyReloader(loaded, {
    compile: compilePolicies,
    apply: (next) => {
      const changed = new Set<string>();
      for (const name of Object.keys(config.servers)) {
        const before = policies.get(name);
        const after = next.servers.get(name);
        if (sourceOf(before) !== sourceOf(after)) changed.add(name);
        if (after) policies.set(name, after);
        else policies.delete(name);
      }
      for (const name of grants.updatePolicies(next.grants)) {
        for (const s of config.grants[name]?.servers ?? []) changed.add(s);
      }
      return [...changed];
    },
    log,
    announce: (server) => {
      pool.announce(server, 'notifications/tools/list_changed');
      pool.announce(server, 'notifications/prompts/list_changed');
      pool.announce(server, 'notifications/resources/list_changed');
    },
  });
  return {
    pool,
    ctx,
    store,
    audit,
    approvals,
    webhooks,
    grants,
    ...(jwt ? { jwt } : {}),
    policies,
    reloader,
    metrics,
    replica,
    gate,
    endpoint: (name) => endpoints.get(name),
    links,
    configDir: loaded.dir,
    authMode: config.auth.mode,
    close: async () => {
      gate.close();
      approvals.close();
      webhooks.close();
      reloader.stop();
      parked.closeAll();
      await replica.close();
      await pool.closeAll();
      await audit.close();
      await store.close();
    },
  };
}

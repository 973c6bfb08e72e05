// The gateway configuration (DESIGN section 2): its zod schema is the single source of the config
// types and of schema/config.schema.json. `ConfigSchema` accepts what users write — including the
// `mcpServers` object of Claude Desktop, Cursor and VS Code — and parses it into `GatehouseConfig`,
// the one normalised form the rest of Gatehouse reads. Checks that span several keys (auth versus
// listen address, grants naming servers) live in cross-checks.ts so that they run even when other
// keys are wrong, and every problem is reported in one go.
import { z } from 'zod';
import { PolicySchema, type PolicyInput } from '../policy/schema.js';
import { AuditConfigSchema, normaliseAuditConfig } from '../audit/config-schema.js';
import { ApprovalsConfigSchema } from '../approvals/config-schema.js';
import { DurationSchema } from './duration.js';
import { ADMIN_ROLES } from '../identity/roles.js';

export const SERVER_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const GRANT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export const DEFAULT_STATE = 'sqlite:./.gatehouse/state.db';
export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_SESSIONS_PER_GRANT = 100;
export const DEFAULT_MAX_INFLIGHT_PER_SESSION = 64;
export const DEFAULT_MAX_PENDING_APPROVALS_PER_GRANT = 50;

/** A string value; numbers and booleans are taken as their text (YAML reads `PORT: 3000` as a number). */
const Text = z.union([z.string(), z.number(), z.boolean()]).transform(String);

/** A whole number, also as digits in a string, which is what `${VAR}` interpolation produces. */
function wholeNumber(min: number, max: number) {
  return z.union(
    [
      z.number().int().min(min).max(max),
      z.string().regex(/^\d+$/).transform(Number).pipe(z.number().min(min).max(max)),
    ],
    { error: 'expected a whole number' },
  );
}

const ServerName = z.string().regex(SERVER_NAME, {
  error: (issue) =>
    `server names use lowercase letters, digits and dashes (${SERVER_NAME.source}); rename it, e.g. "${slug(String(issue.input))}"`,
});

const HttpUrl = z.string().refine(isHttpUrl, { error: 'expected an http:// or https:// URL' });

function isHttpUrl(text: string): boolean {
  try {
    return /^https?:$/.test(new URL(text).protocol);
  } catch {
    return false;
  }
}

/** A policy: a file path (relative to the config file's folder) or the policy itself, inline. */
const PolicyRef = z.union([
  z.string().min(1).meta({ description: 'Path of a policy file, relative to this config file.' }),
  // Parsed now so that an inline policy's problems are reported with the config's; a normalised policy
  // is itself a valid policy input, so later stages may parse it again with the same result.
  PolicySchema.transform((policy): PolicyInput => policy).meta({ id: 'InlinePolicy' }),
]);

const serverFields = {
  transport: z.enum(['stdio', 'streamable-http', 'sse']).optional().meta({
    description: 'Inferred when omitted: command means stdio, url means streamable-http.',
  }),
  type: z
    .enum(['stdio', 'http', 'streamable-http', 'streamableHttp', 'sse'])
    .optional()
    .meta({ description: 'The VS Code spelling of transport.' }),
  command: z.string().min(1).optional().meta({ description: 'Program to run (stdio servers).' }),
  args: z.array(Text).default([]),
  env: z.record(z.string(), Text).default({}),
  cwd: z.string().min(1).optional().meta({ description: 'Working directory, relative to this config file.' }),
  url: HttpUrl.optional().meta({ description: 'Endpoint of an HTTP or SSE server.' }),
  headers: z.record(z.string(), Text).default({}),
  era: z.enum(['auto', 'legacy', 'modern']).default('auto').meta({
    description: 'MCP protocol era of the upstream; auto probes it once.',
  }),
  isolation: z.enum(['shared', 'session']).default('shared').meta({
    description: 'stdio only: session runs one child process per client session.',
  }),
  policy: PolicyRef.optional(),
  pins: z.enum(['on', 'off']).default('on').meta({
    description:
      'on: a tool whose definition changes after it was first seen is blocked until an operator accepts the change.',
  }),
  state_failure: z.enum(['closed', 'open']).default('closed').meta({
    description:
      'While the state store cannot be reached: closed blocks calls that have limits (default); open lets them through without their limits and logs each time at error level. Approvals are never skipped.',
  }),
  timeout_ms: wholeNumber(1, 86_400_000)
    .default(DEFAULT_TIMEOUT_MS)
    .meta({
      description: `Per upstream request, in milliseconds; default ${DEFAULT_TIMEOUT_MS}.`,
    }),
};

// Entries of an mcpServers object come from other clients' files, which carry keys of their own
// (disabled, autoApprove, envFile, ...): those keys are dropped rather than refused.
const ForeignServerFields = z.object(serverFields);
type ServerFields = z.output<typeof ForeignServerFields>;

function toServerConfig({ transport, type, ...server }: ServerFields) {
  const inferred = server.command !== undefined ? 'stdio' : 'streamable-http';
  return { transport: transport ?? transportOfType(type) ?? inferred, ...server };
}

function transportOfType(type: ServerFields['type']): ServerFields['transport'] {
  if (type === 'http' || type === 'streamableHttp') return 'streamable-http';
  return type;
}

const ServerSchema = z.strictObject(serverFields).transform(toServerConfig).meta({ id: 'Server' });
const ForeignServerSchema = ForeignServerFields.transform(toServerConfig);

const GrantSchema = z.strictObject({
  token: z.string().min(1).meta({ description: 'Bearer token the agent presents.' }),
  agent: z.string().min(1).optional(),
  servers: z.array(z.string()).min(1).meta({ description: 'Names of the servers this grant may use.' }),
  labels: z.record(z.string(), Text).default({}),
  expires: z
    .string()
    .refine((date) => !Number.isNaN(Date.parse(date)), {
      error: 'expected a date such as 2026-12-31 or 2026-12-31T18:00:00Z',
    })
    .optional(),
  policy: PolicyRef.optional().meta({ description: "Replaces the server's policy for this grant." }),
});

const AdminTokenSchema = z
  .strictObject({
    token: z.string().min(1).meta({ description: 'Bearer token the operator or tool presents.' }),
    role: z.enum(ADMIN_ROLES),
  })
  .meta({ id: 'AdminToken' });

/** Asymmetric signature algorithms only: shared-secret (HS*) and unsigned (none) tokens are never accepted. */
export const JWT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

const JwtKeySchema = z.union([
  z.string().min(1).meta({ description: 'A PEM public key (-----BEGIN PUBLIC KEY-----) or certificate.' }),
  z.looseObject({ kty: z.string() }).meta({ description: 'A public JSON Web Key; kid, alg and use are honoured.' }),
]);

const JwtAuthSchema = z
  .strictObject({
    issuer: z.string().min(1).meta({ description: 'The "iss" every token must carry.' }),
    audience: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .meta({ description: 'The "aud" a token must carry (one of them, when a list): this gateway.' }),
    jwks_url: HttpUrl.optional().meta({
      description:
        "The identity provider's JSON Web Key Set (https://, or http:// on a loopback host); refetched when a token names an unknown key id.",
    }),
    keys: z.array(JwtKeySchema).min(1).optional().meta({ description: 'Static public keys, instead of jwks_url.' }),
    algorithms: z
      .array(z.enum(JWT_ALGORITHMS))
      .min(1)
      .default([...JWT_ALGORITHMS])
      .meta({ description: 'Accepted signature algorithms; default every asymmetric one.' }),
    clock_skew: DurationSchema.default(60).meta({
      description: 'Tolerance for exp / nbf / iat between clocks; default 60 seconds.',
    }),
    jwks_cache: DurationSchema.default(600).meta({
      description: 'How long a fetched key set is used before it is fetched again; default 10 minutes.',
    }),
    jwks_cooldown: DurationSchema.default(30).meta({
      description: 'Least time between fetches caused by unknown key ids; default 30 seconds.',
    }),
    claims: z
      .strictObject({
        agent: z.string().min(1).default('sub').meta({ description: 'Claim naming the agent; default sub.' }),
        servers: z.string().min(1).default('gatehouse_servers').meta({
          description:
            'Claim listing the servers the token may use ("*" for all); scope entries mcp:server:<name> count too.',
        }),
        labels: z
          .string()
          .min(1)
          .default('gatehouse_labels')
          .meta({ description: 'Claim holding an object of labels (grant.labels in policies).' }),
      })
      .prefault({}),
    resource: HttpUrl.optional().meta({
      description: "This gateway's resource identifier (RFC 9728); default its public URL followed by /mcp.",
    }),
    authorization_servers: z
      .array(HttpUrl)
      .min(1)
      .optional()
      .meta({ description: 'Issuer URLs clients get tokens from; default [issuer].' }),
    scopes_supported: z.array(z.string().min(1)).optional().meta({
      description: 'Scopes advertised in the protected-resource metadata and in challenges.',
    }),
  })
  .meta({ id: 'JwtAuth' });

const STATE_URL = /^(memory:?|sqlite:.+|rediss?:\/\/.+)$/;

export const ConfigSchema = z
  .strictObject({
    $schema: z.string().optional(),
    listen: z
      .strictObject({
        host: z.string().min(1).default(DEFAULT_HOST),
        port: wholeNumber(0, 65_535)
          .default(DEFAULT_PORT)
          .meta({ description: `Default ${DEFAULT_PORT}; 0 picks a free port.` }),
        cors_origins: z
          .array(z.string().regex(/^https?:\/\/[^/\s]+$/, { error: 'expected an origin such as https://app.example' }))
          .default([])
          .meta({
            description:
              'Web origins allowed to call the gateway from a browser (CORS). Requests from any other origin are refused 403.',
          }),
      })
      .prefault({}),
    state: z
      .string()
      .regex(STATE_URL, { error: 'expected memory:, sqlite:PATH, or redis://HOST:PORT/DB' })
      .transform((state) => (state === 'memory' ? 'memory:' : state))
      .default(DEFAULT_STATE),
    audit: AuditConfigSchema,
    auth: z
      .strictObject({
        mode: z.enum(['none', 'grants', 'jwt']).default('none').meta({
          description: 'none is accepted only while listen.host is a loopback address.',
        }),
        admin_token: z
          .string()
          .min(1)
          .optional()
          .meta({ description: 'A token for the admin API and /metrics, with role admin.' }),
        admin_tokens: z
          .record(
            z.string().regex(GRANT_NAME, { error: `admin token names must match ${GRANT_NAME.source}` }),
            AdminTokenSchema,
          )
          .optional()
          .meta({
            description:
              'More tokens for the admin API and /metrics, each named and with a role: viewer (read only), policy_manager (also answers approvals and accepts pins), admin (also manages grants).',
          }),
        jwt: JwtAuthSchema.optional().meta({ description: 'Required when mode is jwt.' }),
      })
      .prefault({}),
    servers: z.record(ServerName, ServerSchema).optional(),
    mcpServers: z.record(ServerName, ForeignServerSchema).optional().meta({
      description: 'Servers in the Claude Desktop / Cursor / VS Code format; merged into servers.',
    }),
    grants: z
      .record(z.string().regex(GRANT_NAME, { error: `grant names must match ${GRANT_NAME.source}` }), GrantSchema)
      .default({}),
    log: z
      .strictObject({
        level: z
          .enum(['trace', 'debug', 'info', 'warn', 'error'])
          .default('info')
          .meta({ description: 'The least severe level written to the log; default info.' }),
      })
      .optional()
      .meta({ description: 'The gateway log (stderr): JSON lines, or readable lines on a terminal.' }),
    limits: z
      .strictObject({
        max_body_bytes: wholeNumber(1, 2 ** 31)
          .default(DEFAULT_MAX_BODY_BYTES)
          .meta({ description: `Larger request bodies are answered 413; default ${DEFAULT_MAX_BODY_BYTES} (4 MiB).` }),
        max_sessions_per_grant: wholeNumber(1, 1_000_000)
          .default(DEFAULT_MAX_SESSIONS_PER_GRANT)
          .meta({
            description: `Open legacy sessions (Streamable HTTP and HTTP+SSE together) one grant may hold; one more is answered 429. Default ${DEFAULT_MAX_SESSIONS_PER_GRANT}.`,
          }),
        max_inflight_per_session: wholeNumber(1, 1_000_000)
          .default(DEFAULT_MAX_INFLIGHT_PER_SESSION)
          .meta({
            description: `Requests one session (for 2026-07-28 requests: one principal) may have in flight; one more is answered 429. Default ${DEFAULT_MAX_INFLIGHT_PER_SESSION}.`,
          }),
        max_pending_approvals_per_grant: wholeNumber(1, 1_000_000)
          .default(DEFAULT_MAX_PENDING_APPROVALS_PER_GRANT)
          .meta({
            description: `Approvals one grant may have waiting for an answer; a call that would open one more is blocked with a reason naming this key. Default ${DEFAULT_MAX_PENDING_APPROVALS_PER_GRANT}.`,
          }),
      })
      .prefault({}),
    approvals: ApprovalsConfigSchema,
    cluster: z
      .strictObject({
        id: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, { error: 'replica ids use letters, digits, ".", "_" and "-"' })
          .optional()
          .meta({ description: "This replica's id; default the host name and a random suffix." }),
        advertise_url: HttpUrl.optional().meta({
          description:
            'The base URL other replicas reach this one at (e.g. http://10.0.0.5:8080), to forward a 2026-07-28 retry whose upstream call is parked here. Default none: such retries fail on other replicas.',
        }),
      })
      .optional()
      .meta({ description: 'Several replicas on one Redis state store (see docs/operations.md).' }),
  })
  .transform(({ listen, state, audit, auth, servers, mcpServers, grants, limits, log, approvals, cluster }) => ({
    listen,
    state,
    audit: normaliseAuditConfig(audit, state, DEFAULT_STATE),
    auth,
    servers: { ...mcpServers, ...servers },
    grants,
    limits,
    // Present only when written, so configs that never mention it normalise as before.
    ...(log ? { log } : {}),
    ...(approvals ? { approvals } : {}),
    ...(cluster ? { cluster } : {}),
  }))
  .meta({ title: 'Gatehouse configuration', description: 'Listen address, stores, auth, servers and grants.' });

/** A config as users write it. */
export type ConfigInput = z.input<typeof ConfigSchema>;
/** The normalised config every other part of Gatehouse reads. */
export type GatehouseConfig = z.output<typeof ConfigSchema>;
export type ServerConfig = GatehouseConfig['servers'][string];
export type GrantConfig = GatehouseConfig['grants'][string];
export type Transport = ServerConfig['transport'];

/** A valid server name close to the given one, for error messages. */
export function slug(name: string): string {
  const cleaned = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
  return cleaned || 'server';
}

// Checks that relate several keys of a config. They read the raw document defensively instead of the
// parsed one, so that they run even when some other key is malformed: users see every problem in one
// go. A key of the wrong type is left to the schema, which reports it.
import { isLoopbackHost } from './loopback.js';
import { publicKeyProblem } from '../identity/jwt.js';
import { toPointer, type Problem } from './problems.js';
import { DEFAULT_HOST } from './schema.js';

type Doc = Record<string, unknown>;

export function crossCheckConfig(raw: unknown): Problem[] {
  const doc = asDoc(raw);
  if (!doc) return [];
  return [
    ...checkAuth(doc),
    ...checkJwt(doc),
    ...checkServerSets(doc),
    ...checkEachServer(doc),
    ...checkGrants(doc),
    ...checkAdminTokens(doc),
  ];
}

function checkAuth(doc: Doc): Problem[] {
  const mode = asDoc(doc.auth)?.mode ?? 'none';
  const host = asDoc(doc.listen)?.host ?? DEFAULT_HOST;
  if (mode !== 'none' || typeof host !== 'string' || isLoopbackHost(host)) return [];
  return [
    {
      path: '/auth/mode',
      message:
        `auth mode "none" is accepted only while listen.host is a loopback address (127.0.0.0/8, ::1, localhost), ` +
        `and listen.host is "${host}": anyone who can reach that address could use every server. ` +
        `Set auth.mode to "grants" (or "jwt"), or listen on 127.0.0.1.`,
    },
  ];
}

function checkJwt(doc: Doc): Problem[] {
  const auth = asDoc(doc.auth);
  const mode = auth?.mode ?? 'none';
  if (auth?.jwt === undefined) {
    if (mode !== 'jwt') return [];
    return [
      {
        path: '/auth',
        message:
          'auth mode "jwt" needs auth.jwt: the issuer, the audience, and jwks_url (or keys) to verify tokens with',
      },
    ];
  }
  if (mode !== 'jwt') {
    return [
      {
        path: '/auth/jwt',
        message: `auth.jwt is used only when auth.mode is "jwt", and it is "${String(mode)}"; set mode: jwt or remove jwt`,
      },
    ];
  }
  const jwt = asDoc(auth.jwt);
  if (!jwt) return [];
  const problems: Problem[] = [];
  if (jwt.jwks_url === undefined && jwt.keys === undefined) {
    problems.push({
      path: '/auth/jwt',
      message: "give jwks_url (the identity provider's JSON Web Key Set) or keys (its public keys)",
    });
  }
  if (jwt.jwks_url !== undefined && jwt.keys !== undefined) {
    problems.push({ path: '/auth/jwt/keys', message: 'give jwks_url or keys, not both' });
  }
  if (typeof jwt.jwks_url === 'string' && plainHttpElsewhere(jwt.jwks_url)) {
    // Whoever answers a plain-HTTP fetch of the key set (anyone on the network path) chooses the
    // keys, and with them signs tokens for every server.
    problems.push({
      path: '/auth/jwt/jwks_url',
      message:
        'jwks_url must be https:// (a key set fetched over plain HTTP can be replaced on the way, and with it every token); http:// is accepted only for a loopback host, or give the keys themselves under keys',
    });
  }
  if (Array.isArray(jwt.keys)) {
    jwt.keys.forEach((key, i) => {
      const problem = typeof key === 'string' || asDoc(key) ? publicKeyProblem(key) : undefined;
      if (problem) problems.push({ path: toPointer(['auth', 'jwt', 'keys', i]), message: problem });
    });
  }
  if (jwt.authorization_servers === undefined && typeof jwt.issuer === 'string' && !isUrl(jwt.issuer)) {
    problems.push({
      path: '/auth/jwt/authorization_servers',
      message: `the issuer "${jwt.issuer}" is not a URL, so clients cannot find the authorization server from it; list its URL under authorization_servers`,
    });
  }
  if (Object.keys(asDoc(doc.grants) ?? {}).length > 0) {
    problems.push({
      path: '/grants',
      message: 'grants are not used when auth.mode is "jwt" (callers present JWTs); remove them or use mode "grants"',
    });
  }
  return problems;
}

function isUrl(text: string): boolean {
  try {
    return /^https?:$/.test(new URL(text).protocol);
  } catch {
    return false;
  }
}

function checkServerSets(doc: Doc): Problem[] {
  const servers = asDoc(doc.servers);
  const foreign = asDoc(doc.mcpServers);
  if ((doc.servers !== undefined && !servers) || (doc.mcpServers !== undefined && !foreign)) return [];
  const names = [...Object.keys(servers ?? {}), ...Object.keys(foreign ?? {})];
  if (names.length === 0) {
    return [{ path: '/servers', message: 'no servers configured: add at least one under servers (or mcpServers)' }];
  }
  return Object.keys(foreign ?? {})
    .filter((name) => servers && name in servers)
    .map((name) => ({
      path: toPointer(['mcpServers', name]),
      message: `server "${name}" is also defined under servers; give one of them another name`,
    }));
}

function checkEachServer(doc: Doc): Problem[] {
  const sets = ['servers', 'mcpServers'] as const;
  return sets.flatMap((set) =>
    Object.entries(asDoc(doc[set]) ?? {}).flatMap(([name, entry]) => {
      const server = asDoc(entry);
      return server ? checkServer(server).map((p) => ({ ...p, path: toPointer([set, name]) + p.path })) : [];
    }),
  );
}

const TYPE_TO_TRANSPORT: Record<string, string> = {
  stdio: 'stdio',
  http: 'streamable-http',
  'streamable-http': 'streamable-http',
  streamableHttp: 'streamable-http',
  sse: 'sse',
};
const TRANSPORTS = new Set(['stdio', 'streamable-http', 'sse']);

function checkServer(server: Doc): Problem[] {
  const hasCommand = server.command !== undefined;
  const hasUrl = server.url !== undefined;
  if (hasCommand && hasUrl) {
    return [{ path: '', message: 'give either command (a stdio server) or url (an HTTP server), not both' }];
  }
  if (!hasCommand && !hasUrl) {
    return [{ path: '', message: 'missing command (to run a stdio server) or url (to reach an HTTP server)' }];
  }
  const problems: Problem[] = [];
  const declared =
    typeof server.transport === 'string' && TRANSPORTS.has(server.transport) ? server.transport : undefined;
  const typed = typeof server.type === 'string' ? TYPE_TO_TRANSPORT[server.type] : undefined;
  if (declared && typed && declared !== typed) {
    problems.push({
      path: '/type',
      message: `type "${String(server.type)}" contradicts transport "${declared}"; keep one`,
    });
  }
  const transport = declared ?? typed ?? (hasCommand ? 'stdio' : 'streamable-http');
  if (transport === 'stdio' && !hasCommand) {
    problems.push({ path: '/command', message: 'a stdio server needs a command to run' });
  }
  if (transport !== 'stdio' && !hasUrl) {
    problems.push({ path: '/url', message: `a ${transport} server needs a url; use transport stdio to run a command` });
  }
  if (server.isolation === 'session' && transport !== 'stdio') {
    problems.push({
      path: '/isolation',
      message: 'isolation applies to stdio servers only; an HTTP upstream already gets one session per client session',
    });
  }
  return problems;
}

function checkGrants(doc: Doc): Problem[] {
  const grants = asDoc(doc.grants);
  if (!grants) return [];
  const known = new Set([...Object.keys(asDoc(doc.servers) ?? {}), ...Object.keys(asDoc(doc.mcpServers) ?? {})]);
  const tokenOwner = new Map<string, string>();
  const problems: Problem[] = [];
  for (const [name, entry] of Object.entries(grants)) {
    const grant = asDoc(entry);
    if (!grant) continue;
    if (Array.isArray(grant.servers)) {
      grant.servers.forEach((server, i) => {
        if (typeof server === 'string' && !known.has(server)) {
          problems.push({
            path: toPointer(['grants', name, 'servers', i]),
            message: `unknown server "${server}"; configured servers: ${[...known].join(', ') || '(none)'}`,
          });
        }
      });
    }
    if (typeof grant.token === 'string' && grant.token !== '') {
      const owner = tokenOwner.get(grant.token);
      if (owner !== undefined) {
        problems.push({
          path: toPointer(['grants', name, 'token']),
          message: `same token as grant "${owner}"; every grant needs its own token`,
        });
      } else tokenOwner.set(grant.token, name);
    }
  }
  return problems;
}

/**
 * Every admin token is distinct from every other and from every grant token. A grant token is
 * handed to an agent: were it also an admin token, the agent could manage the gateway that is
 * meant to govern it. Two admin tokens alike would make the role of a caller depend on the order.
 */
function checkAdminTokens(doc: Doc): Problem[] {
  const auth = asDoc(doc.auth);
  if (!auth) return [];
  const admin: { path: string; token: string; what: string }[] = [];
  if (typeof auth.admin_token === 'string' && auth.admin_token !== '')
    admin.push({ path: '/auth/admin_token', token: auth.admin_token, what: 'auth.admin_token' });
  for (const [name, entry] of Object.entries(asDoc(auth.admin_tokens) ?? {})) {
    const token = asDoc(entry)?.token;
    if (typeof token === 'string' && token !== '')
      admin.push({ path: toPointer(['auth', 'admin_tokens', name, 'token']), token, what: `admin token "${name}"` });
  }
  const grantOf = new Map<string, string>();
  for (const [name, entry] of Object.entries(asDoc(doc.grants) ?? {})) {
    const token = asDoc(entry)?.token;
    if (typeof token === 'string' && !grantOf.has(token)) grantOf.set(token, name);
  }
  const problems: Problem[] = [];
  const seen = new Map<string, string>();
  for (const a of admin) {
    const grant = grantOf.get(a.token);
    if (grant !== undefined)
      problems.push({
        path: a.path,
        message: `same token as grant "${grant}": an admin token must never be a grant token, or the agent holding it could manage the gateway; give each its own`,
      });
    const earlier = seen.get(a.token);
    if (earlier !== undefined)
      problems.push({ path: a.path, message: `same token as ${earlier}; every admin token needs its own` });
    else seen.set(a.token, a.what);
  }
  return problems;
}

function asDoc(value: unknown): Doc | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Doc) : undefined;
}

/** An http: URL to a host other than this machine's loopback. */
function plainHttpElsewhere(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' && !isLoopbackHost(u.hostname);
  } catch {
    return false; // not a URL: the schema says so
  }
}

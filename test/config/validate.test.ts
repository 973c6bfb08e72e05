// Proves what a config document may say and how it is normalised: defaults; transports inferred from
// command or url; the mcpServers format of Claude Desktop, Cursor and VS Code accepted as servers;
// server names; auth mode none only on loopback, with the reason; grants checked against servers;
// inline policies validated; and every problem reported with its JSON path in one go.
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/validate.js';

function valid(doc: unknown) {
  const result = validateConfig(doc);
  if (!result.ok) throw new Error(`expected a valid config, got ${JSON.stringify(result.problems, null, 2)}`);
  return result.config;
}

function problems(doc: unknown) {
  const result = validateConfig(doc);
  if (result.ok) throw new Error('expected problems, the config was accepted');
  return result.problems;
}

const paths = (doc: unknown) => problems(doc).map((p) => p.path);
const stdio = { command: 'npx', args: ['-y', 'server'] };

describe('defaults and normalisation', () => {
  it('fills every default of the contract', () => {
    expect(valid({ servers: { mem: stdio } })).toEqual({
      listen: { host: '127.0.0.1', port: 8080, cors_origins: [] },
      state: 'sqlite:./.gatehouse/state.db',
      audit: {
        sink: 'sqlite:./.gatehouse/state.db',
        arguments: 'redacted',
        retention: 2_592_000,
        queue_max: 10_000,
        spool: 'on',
      },
      auth: { mode: 'none' },
      servers: {
        mem: {
          transport: 'stdio',
          command: 'npx',
          args: ['-y', 'server'],
          env: {},
          headers: {},
          era: 'auto',
          isolation: 'shared',
          pins: 'on',
          state_failure: 'closed',
          timeout_ms: 60_000,
        },
      },
      grants: {},
      limits: {
        max_body_bytes: 4 * 1024 * 1024,
        max_sessions_per_grant: 100,
        max_inflight_per_session: 64,
        max_pending_approvals_per_grant: 50,
      },
    });
  });

  it('infers stdio from command and streamable-http from url, and keeps an explicit sse', () => {
    const { servers } = valid({
      servers: { a: stdio, b: { url: 'https://b.example/mcp' }, c: { url: 'http://c.example/sse', transport: 'sse' } },
    });
    expect([servers.a?.transport, servers.b?.transport, servers.c?.transport]).toEqual([
      'stdio',
      'streamable-http',
      'sse',
    ]);
  });

  it('takes numbers and booleans in args, env and headers as text', () => {
    const { servers } = valid({ servers: { a: { command: 'srv', args: ['--port', 3000], env: { DEBUG: true } } } });
    expect(servers.a).toMatchObject({ args: ['--port', '3000'], env: { DEBUG: 'true' } });
  });

  it('accepts "memory" as the in-memory state store', () => {
    expect(valid({ state: 'memory', servers: { a: stdio } }).state).toBe('memory:');
  });

  it('allows a $schema key for editors and drops it', () => {
    expect(valid({ $schema: './schema/config.schema.json', servers: { a: stdio } })).not.toHaveProperty('$schema');
  });
});

describe('mcpServers from other MCP clients', () => {
  it('accepts a Claude Desktop entry ({ command, args, env }) as a stdio server', () => {
    const { servers } = valid({
      mcpServers: { filesystem: { command: 'npx', args: ['-y', 'fs', '/tmp'], env: { LOG: 'debug' } } },
    });
    expect(servers.filesystem).toMatchObject({ transport: 'stdio', command: 'npx', env: { LOG: 'debug' } });
  });

  it('accepts a Cursor entry ({ url, headers }) as a Streamable HTTP server', () => {
    const { servers } = valid({ mcpServers: { linear: { url: 'https://mcp.linear.app/mcp', headers: { A: 'b' } } } });
    expect(servers.linear).toMatchObject({ transport: 'streamable-http', headers: { A: 'b' } });
  });

  it.each([
    ['http', 'streamable-http'],
    ['sse', 'sse'],
  ])('accepts a VS Code entry with type "%s" as transport %s', (type, transport) => {
    const { servers } = valid({ mcpServers: { remote: { type, url: 'https://r.example/mcp' } } });
    expect(servers.remote?.transport).toBe(transport);
  });

  it('accepts a VS Code entry with type "stdio"', () => {
    expect(valid({ mcpServers: { local: { type: 'stdio', ...stdio } } }).servers.local?.transport).toBe('stdio');
  });

  it("ignores other clients' own keys in mcpServers, but refuses unknown keys under servers", () => {
    const foreign = { ...stdio, disabled: false, autoApprove: ['read'] };
    expect(valid({ mcpServers: { a: foreign } }).servers.a).not.toHaveProperty('autoApprove');
    expect(problems({ servers: { a: { ...stdio, comand: 'x' } } })).toEqual([
      { path: '/servers/a/comand', message: 'unknown key; did you mean "command"?' },
    ]);
  });

  it('merges servers and mcpServers, and refuses a name defined in both', () => {
    expect(Object.keys(valid({ servers: { a: stdio }, mcpServers: { b: stdio } }).servers).sort()).toEqual(['a', 'b']);
    expect(paths({ servers: { a: stdio }, mcpServers: { a: stdio } })).toEqual(['/mcpServers/a']);
  });
});

describe('server names', () => {
  it.each(['a', 'github', 'my-server-2', '0day', 'a'.repeat(63)])('accepts %s', (name) => {
    expect(Object.keys(valid({ servers: { [name]: stdio } }).servers)).toEqual([name]);
  });

  it.each(['GitHub', 'my_server', '-lead', 'has space', 'a'.repeat(64), 'ünï'])('refuses %s with its path', (name) => {
    const [problem, ...rest] = problems({ servers: { [name]: stdio } });
    expect(rest).toEqual([]);
    expect(problem?.path).toBe(`/servers/${name}`);
    expect(problem?.message).toContain('^[a-z0-9][a-z0-9-]{0,62}$');
  });

  it('suggests a valid name', () => {
    expect(problems({ mcpServers: { 'My Server': stdio } })[0]?.message).toContain('e.g. "my-server"');
  });

  it('refuses a config with no server at all', () => {
    expect(problems({})).toEqual([
      { path: '/servers', message: 'no servers configured: add at least one under servers (or mcpServers)' },
    ]);
  });
});

describe('auth mode none', () => {
  it.each(['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1'])('is accepted on %s', (host) => {
    expect(valid({ listen: { host }, servers: { a: stdio } }).auth.mode).toBe('none');
  });

  it.each(['0.0.0.0', '::', '192.168.1.10', 'gateway.example.com', '128.0.0.1'])(
    'is refused on %s, saying why and what to do',
    (host) => {
      const [problem] = problems({ listen: { host }, servers: { a: stdio } });
      expect(problem?.path).toBe('/auth/mode');
      expect(problem?.message).toContain('loopback address (127.0.0.0/8, ::1, localhost)');
      expect(problem?.message).toContain('anyone who can reach that address could use every server');
      expect(problem?.message).toContain('Set auth.mode to "grants"');
    },
  );

  it('is refused when auth is left out and the host is not loopback, since none is the default', () => {
    expect(paths({ listen: { host: '0.0.0.0' }, servers: { a: stdio } })).toEqual(['/auth/mode']);
  });

  it('does not restrict grants mode to loopback', () => {
    expect(valid({ listen: { host: '0.0.0.0' }, auth: { mode: 'grants' }, servers: { a: stdio } }).listen.host).toBe(
      '0.0.0.0',
    );
  });
});

describe('server transports', () => {
  it.each([
    [{ command: 'x', url: 'https://x.example' }, '/servers/s', 'not both'],
    [{ args: ['x'] }, '/servers/s', 'missing command'],
    [{ url: 'https://x.example', transport: 'stdio' }, '/servers/s/command', 'needs a command'],
    [{ command: 'x', transport: 'sse' }, '/servers/s/url', 'needs a url'],
    [{ url: 'https://x.example', type: 'sse', transport: 'streamable-http' }, '/servers/s/type', 'contradicts'],
    [{ url: 'https://x.example', isolation: 'session' }, '/servers/s/isolation', 'stdio servers only'],
    [{ url: 'file:///etc/passwd' }, '/servers/s/url', 'http:// or https://'],
  ])('refuses %j at the right path', (server, path, words) => {
    const [problem, ...rest] = problems({ servers: { s: server } });
    expect(rest).toEqual([]);
    expect(problem?.path).toBe(path);
    expect(problem?.message).toContain(words);
  });

  it('accepts isolation session for a stdio server', () => {
    expect(valid({ servers: { s: { ...stdio, isolation: 'session' } } }).servers.s?.isolation).toBe('session');
  });
});

describe('grants', () => {
  it('keeps a grant with its defaults', () => {
    const { grants } = valid({
      auth: { mode: 'grants' },
      servers: { gh: { url: 'https://gh.example/mcp' } },
      grants: { 'ci-runner': { token: 't1', agent: 'ci', servers: ['gh'], expires: '2030-01-01' } },
    });
    expect(grants['ci-runner']).toEqual({
      token: 't1',
      agent: 'ci',
      servers: ['gh'],
      labels: {},
      expires: '2030-01-01',
    });
  });

  it('refuses a grant naming an unknown server, listing the configured ones', () => {
    expect(problems({ servers: { a: stdio, b: stdio }, grants: { g: { token: 't', servers: ['b', 'c'] } } })).toEqual([
      { path: '/grants/g/servers/1', message: 'unknown server "c"; configured servers: a, b' },
    ]);
  });

  it('refuses two grants sharing one token', () => {
    const doc = {
      servers: { a: stdio },
      grants: { g1: { token: 't', servers: ['a'] }, g2: { token: 't', servers: ['a'] } },
    };
    expect(paths(doc)).toEqual(['/grants/g2/token']);
  });

  it('refuses an expiry that is not a date', () => {
    expect(paths({ servers: { a: stdio }, grants: { g: { token: 't', servers: ['a'], expires: 'soon' } } })).toEqual([
      '/grants/g/expires',
    ]);
  });
});

describe('inline policies', () => {
  const policy = {
    version: '1',
    default: 'deny',
    tools: { 'get_*': {}, list_issues: { rate_limit: { max: 5, window: '1m' } } },
  };

  it('validates and normalises an inline policy', () => {
    const { servers } = valid({ servers: { gh: { url: 'https://gh.example/mcp', policy } } });
    expect(servers.gh?.policy).toMatchObject({
      default: 'deny',
      tools: { list_issues: { limits: [{ max: 5, window: 60, scope: 'session' }] } },
    });
  });

  it('reports an inline policy problem with its full path in the config', () => {
    const bad = { ...policy, tools: { list_issues: { limits: [{ max: 0, window: 'minute' }] } } };
    expect(problems({ servers: { gh: { url: 'https://gh.example/mcp', policy: bad } } })).toEqual([
      { path: '/servers/gh/policy/tools/list_issues/limits/0/max', message: 'must be greater than 0' },
    ]);
  });
});

describe('reporting', () => {
  it('reports every problem of a config in one go, each with its JSON path', () => {
    const doc = {
      listen: { host: '0.0.0.0', port: 'eighty' },
      state: 'mongodb://x',
      servers: {
        Bad: stdio,
        ok: { command: 'x', url: 'https://x.example' },
        web: { url: 'https://w.example', timeout_ms: -1 },
      },
      grants: { g: { token: 't', servers: ['nope'] } },
      extra: true,
    };
    expect(paths(doc).sort()).toEqual(
      [
        '/auth/mode',
        '/extra',
        '/grants/g/servers/0',
        '/listen/port',
        '/servers/Bad',
        '/servers/ok',
        '/servers/web/timeout_ms',
        '/state',
      ].sort(),
    );
  });

  it('says which values are expected', () => {
    expect(problems({ servers: { a: { ...stdio, era: 'future' } } })).toEqual([
      { path: '/servers/a/era', message: 'expected one of "auto", "legacy", "modern"; got "future"' },
    ]);
  });
});

// A config that defines grants but leaves auth.mode at its default ("none") starts, since
// `gatehouse stdio --grant` uses those grants, but the gateway says at start that HTTP callers are
// not held to them; with mode grants it says nothing of the kind. `gatehouse grants create` on such
// a config, and POST /api/v1/grants on such a gateway, say the same of the grant they make.
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { EPHEMERAL, featureServerCommand, startParsedGateway, tempDir } from '../helpers/index.js';

/** The log lines of a gateway started on `auth`, with one grant, until it is up. */
async function startLines(auth: Record<string, unknown> | undefined): Promise<string[]> {
  const lines: string[] = [];
  const { command, args } = featureServerCommand('stdio', 'legacy');
  const gateway = await startParsedGateway(
    {
      ...EPHEMERAL,
      ...(auth ? { auth } : {}),
      servers: { fx: { command, args, policy: { version: '1', default: 'allow' } } },
      grants: { ci: { token: 'auth-none-grants-token-0001', servers: ['fx'] } },
    },
    { log: (line) => lines.push(line) },
  );
  await gateway.close();
  return lines;
}

describe('grants under auth.mode none', () => {
  it('the gateway warns at start that HTTP callers are not held to the grants, naming them and the fix', async () => {
    const warned = (await startLines(undefined)).filter((l) => /auth\.mode is "none"/.test(l));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(/^warn: /);
    expect(warned[0]).toMatch(/\(ci\).*every caller gets every server.*Set auth\.mode: grants/);
  });

  it('with auth.mode grants there is no such warning', async () => {
    expect((await startLines({ mode: 'grants' })).filter((l) => /auth\.mode is "none"/.test(l))).toEqual([]);
  });
});

describe('gatehouse grants create under auth.mode none', () => {
  it('creates the grant and notes on stderr that HTTP callers are not asked for its token; under mode grants it does not', async () => {
    const home = tempDir('gatehouse-auth-none-create-');
    try {
      const { command, args } = featureServerCommand('stdio', 'legacy');
      const config = (auth?: Record<string, unknown>) => ({
        state: `sqlite:./state.db`,
        audit: 'none',
        ...(auth ? { auth } : {}),
        servers: { fx: { command, args, policy: { version: '1', default: 'allow' } } },
      });
      const none = home.write('none.json', config());
      const made = await runCli(['grants', 'create', 'ci', '--server', 'fx', '-c', none, '--json'], { cwd: home.path });
      expect(made.code, made.stderr).toBe(0);
      expect(JSON.parse(made.stdout)).toMatchObject({ name: 'ci', token: expect.stringMatching(/^gth_/) });
      expect(made.stderr).toMatch(/auth\.mode is "none".*set auth\.mode: grants/);
      const grants = home.write('grants.json', config({ mode: 'grants' }));
      const quiet = await runCli(['grants', 'create', 'ci2', '--server', 'fx', '-c', grants, '--json'], {
        cwd: home.path,
      });
      expect(quiet.code, quiet.stderr).toBe(0);
      expect(quiet.stderr).not.toMatch(/auth\.mode is "none"/);
    } finally {
      home.remove();
    }
  }, 60_000);
});

describe('POST /api/v1/grants under auth.mode none', () => {
  it('answers the new grant with a warning that HTTP callers are not asked for its token; under mode grants, without one', async () => {
    const ADMIN = 'auth-none-grants-admin-0001';
    const { command, args } = featureServerCommand('stdio', 'legacy');
    const create = async (mode: 'none' | 'grants') => {
      const gateway = await startParsedGateway({
        ...EPHEMERAL,
        auth: { mode, admin_token: ADMIN },
        servers: { fx: { command, args, policy: { version: '1', default: 'allow' } } },
      });
      try {
        const res = await fetch(`${gateway.url}/api/v1/grants`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: `api-${mode}`, servers: ['fx'] }),
        });
        expect(res.status).toBe(201);
        return (await res.json()) as { token?: string; warning?: string };
      } finally {
        await gateway.close();
      }
    };
    const none = await create('none');
    expect(none.token).toMatch(/^gth_/);
    expect(none.warning).toMatch(/auth\.mode is "none".*set auth\.mode: grants/);
    expect(await create('grants')).not.toHaveProperty('warning');
  }, 60_000);
});

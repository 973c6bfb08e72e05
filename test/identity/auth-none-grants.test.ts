// A config that defines grants but leaves auth.mode at its default ("none") starts, since
// `gatehouse stdio --grant` uses those grants, but the gateway says at start that HTTP callers are
// not held to them; with mode grants it says nothing of the kind.
import { describe, expect, it } from 'vitest';
import { EPHEMERAL, featureServerCommand, startParsedGateway } from '../helpers/index.js';

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

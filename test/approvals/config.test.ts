// Proves the `approvals` config key: channels parse with their defaults (format json, no headers);
// `client` cannot be a channel name and a channel URL must be http(s), each reported with its
// path; a header value with a control character or a character beyond U+00FF is refused, unquoted;
// `unknownNotifyChannels` lists the notify names of every rule that no channel answers to,
// `client` excepted; and a gateway starting with such a policy warns, naming the rule and the name.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unknownNotifyChannels } from '../../src/approvals/config-schema.js';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfig } from '../../src/config/load.js';
import { parsePolicy } from '../../src/policy/schema.js';
import { featureServerCommand } from '../helpers/index.js';
import { startTestGateway, tempDir, type TempDir } from './support.js';

let dir: TempDir;
beforeAll(() => {
  dir = tempDir('gatehouse-approvals-config-');
});
afterAll(() => dir?.remove());

const base = { audit: 'none', state: 'memory:', servers: { fixture: { command: 'true' } } };

async function problemsOf(approvals: unknown): Promise<Array<{ path: string; message: string }>> {
  try {
    await loadConfig({ file: dir.write('bad.json', { ...base, approvals }) });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('approvals config', () => {
  it('parses channels with their defaults', async () => {
    const loaded = await loadConfig({
      file: dir.write('ok.json', {
        ...base,
        approvals: {
          public_url: 'https://gatehouse.example.com',
          channels: { ops: { url: 'https://hooks.example.com/a' }, chat: { url: 'http://x', format: 'slack' } },
        },
      }),
    });
    expect(loaded.config.approvals).toEqual({
      public_url: 'https://gatehouse.example.com',
      channels: {
        ops: { url: 'https://hooks.example.com/a', format: 'json', headers: {} },
        chat: { url: 'http://x', format: 'slack', headers: {} },
      },
    });
  });

  it('refuses the reserved name client, a URL that is not http(s), and an unknown format', async () => {
    const problems = await problemsOf({
      public_url: 'ftp://x',
      channels: { client: { url: 'https://x' }, ops: { url: 'not a url', format: 'teams' } },
    });
    const paths = problems.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/approvals/public_url',
        '/approvals/channels/ops/url',
        '/approvals/channels/ops/format',
      ]),
    );
    expect(problems.some((p) => p.message.includes('"client" is reserved'))).toBe(true);
  });

  it('refuses a header value with a line break and a header name that is not a token, without quoting the value', async () => {
    const problems = await problemsOf({
      channels: {
        ops: { url: 'https://x', headers: { authorization: 'Bearer tk_live_9f8e\nX-Team: ops', 'bad name': 'v' } },
      },
    });
    expect(problems.map((p) => p.path)).toEqual(
      expect.arrayContaining([
        '/approvals/channels/ops/headers/authorization',
        '/approvals/channels/ops/headers/bad name',
      ]),
    );
    expect(JSON.stringify(problems)).not.toContain('tk_live_9f8e');
  });

  it('refuses a header value with a C0 control character, DEL or a character beyond U+00FF, and takes a tab and Latin-1 (as Node’s own header check)', async () => {
    const refused = { nul: 'a\u0000b', cr: 'a\rb', esc: 'a\u001bb', del: 'a\u007fb', wide: 'caf\u0151' };
    const taken = { tab: 'a\tb', latin1: 'caf\u00e9', plain: 'Bearer x', number: 7 };
    const problems = await problemsOf({ channels: { ops: { url: 'https://x', headers: { ...refused, ...taken } } } });
    expect(problems.map((p) => p.path).sort()).toEqual(
      Object.keys(refused)
        .map((name) => `/approvals/channels/ops/headers/${name}`)
        .sort(),
    );
    const loaded = await loadConfig({
      file: dir.write('headers-ok.json', {
        ...base,
        approvals: { channels: { ops: { url: 'https://x', headers: taken } } },
      }),
    });
    expect(loaded.config.approvals?.channels.ops?.headers).toEqual({ ...taken, number: '7' });
  });
});

describe('notify names without a channel', () => {
  it('lists every rule naming one, client excepted', () => {
    const parsed = parsePolicy({
      version: '1',
      default: 'allow',
      all_tools: { approval: { notify: ['audit-room'] } },
      categories: { destructive: { action: 'require_approval', approval: { notify: ['ops', 'client'] } } },
      tools: { 'files/delete': { action: 'require_approval', approval: { notify: ['pager'] } } },
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    expect(unknownNotifyChannels([['/servers/fs/policy', parsed.policy]], { ops: {} })).toEqual([
      { name: 'audit-room', where: '/servers/fs/policy/all_tools' },
      { name: 'pager', where: '/servers/fs/policy/tools/files~1delete' },
    ]);
  });

  it('a gateway starting with such a policy warns about it', async () => {
    const lines: string[] = [];
    const gateway = await startTestGateway(
      dir,
      {
        approvals: { channels: { ops: { url: 'http://127.0.0.1:9/hook' } } },
        servers: {
          fixture: {
            ...featureServerCommand('stdio', 'legacy'),
            policy: {
              version: '1',
              default: 'allow',
              tools: { echo: { action: 'require_approval', approval: { notify: ['ops', 'client', 'pagr'] } } },
            },
          },
        },
      },
      (line) => lines.push(line),
    );
    await gateway.close();
    const warnings = lines.filter((l) => l.includes('approvals.channels'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('/servers/fixture/policy/tools/echo notifies "pagr"');
  });
});

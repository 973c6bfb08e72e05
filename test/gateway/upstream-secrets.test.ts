// Proves which values of a server's config the gateway takes for credentials, and how it blanks
// them: every header value and the token after its scheme; an env value by its variable's name or
// by its look; the password and query values of the server's URL and of URLs in its env; each also
// as it appears inside JSON and in a URL. Paths, tool names and short values are left readable.
// JSON values are redacted string by string, and returned untouched when there is nothing to hide.
import { describe, expect, it } from 'vitest';
import { redactValue, redactor, upstreamSecrets } from '../../src/gateway/upstream-secrets.js';

const redact = (cfg: Parameters<typeof upstreamSecrets>[0], text: string) => redactor(upstreamSecrets(cfg))(text);
const none = { headers: {}, env: {} };

describe('what is a credential', () => {
  it('every header value, and the token after its scheme', () => {
    const cfg = { ...none, headers: { Authorization: 'Bearer tok-12345678', 'X-Tenant': 'acme-corporation' } };
    expect(redact(cfg, 'sent Bearer tok-12345678; got tok-12345678 for acme-corporation')).toBe(
      'sent [REDACTED]; got [REDACTED] for [REDACTED]',
    );
  });

  it('an env value whose name says credential, or that looks like one; not paths, names or short values', () => {
    const cfg = {
      ...none,
      env: {
        GITHUB_TOKEN: 'ghp_short1',
        DB_PASSWORD: 'hunter2-hunter2',
        RANDOM_SETTING: 'Zq81LmT0pXr4Wn7eBv3c',
        MEMORY_FILE_PATH: '/home/user/memory-2026.json',
        FAIL_TOOL: 'tags_update',
        DEBUG: '1',
      },
    };
    expect(
      redact(cfg, 'ghp_short1 hunter2-hunter2 Zq81LmT0pXr4Wn7eBv3c /home/user/memory-2026.json tags_update 1'),
    ).toBe('[REDACTED] [REDACTED] [REDACTED] /home/user/memory-2026.json tags_update 1');
  });

  it('the password and query values of URLs, also as they appear in JSON and URL-encoded', () => {
    const cfg = {
      ...none,
      url: 'https://mcp.example.com/mcp?api_key=key%2Fwith%22quote',
      env: { DATABASE_URL: 'postgres://app:pa55word-long@db/app' },
    };
    expect(redact(cfg, 'connect postgres://app:pa55word-long@db/app')).toBe('connect postgres://app:[REDACTED]@db/app');
    expect(redact(cfg, JSON.stringify({ url: 'key/with"quote' }))).toBe('{"url":"[REDACTED]"}');
    expect(redact(cfg, 'GET /mcp?api_key=key%2Fwith%22quote')).toBe('GET /mcp?api_key=[REDACTED]');
  });
});

describe('redacting JSON values', () => {
  const r = redactor(upstreamSecrets({ ...none, headers: { 'X-Api-Key': 'secret-key-42' } }));

  it('blanks strings at any depth and keeps the rest', () => {
    const error = { code: -32001, message: 'refused secret-key-42', data: { sent: ['secret-key-42', 3] } };
    expect(redactValue(error, r)).toEqual({
      code: -32001,
      message: 'refused [REDACTED]',
      data: { sent: ['[REDACTED]', 3] },
    });
  });

  it('returns the same object when nothing is secret, or when the server has no credentials', () => {
    const clean = { message: 'fine', data: [1, 'two'] };
    expect(redactValue(clean, r)).toBe(clean);
    const noSecrets = redactor(upstreamSecrets(none));
    expect(noSecrets.active).toBe(false);
    expect(redactValue(clean, noSecrets)).toBe(clean);
  });
});

// Proves the embedded default config: a loopback gateway without auth, SQLite state and audit under
// ./.gatehouse/ of the given folder, and one server running the bundled example server over stdio,
// pointed at the TypeScript source (through tsx) when Gatehouse itself runs from src/.
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { defaultConfig, exampleServerCommand } from '../../src/config/defaults.js';
import { validateConfig } from '../../src/config/validate.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('defaultConfig', () => {
  it('listens on 127.0.0.1:8080 without auth and keeps state and audit in one SQLite file of the folder', () => {
    const config = defaultConfig('/srv/project');
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 8080, cors_origins: [] });
    expect(config.auth).toEqual({ mode: 'none' });
    expect(config.state).toBe('sqlite:/srv/project/.gatehouse/state.db');
    expect(config.audit.sink).toBe(config.state);
    expect(config.grants).toEqual({});
  });

  it('runs the example server over stdio with the current node', () => {
    const { servers } = defaultConfig('/srv/project');
    expect(Object.keys(servers)).toEqual(['example']);
    expect(servers.example).toMatchObject({ transport: 'stdio', command: process.execPath, isolation: 'shared' });
  });

  it('points at src/example-server/main.ts through the tsx loader when running from source', () => {
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    expect(exampleServerCommand()).toEqual({
      command: process.execPath,
      args: ['--import', tsx, join(root, 'src/example-server/main.ts')],
    });
  });

  it('is itself a valid config', () => {
    const { servers } = defaultConfig('/srv/project');
    expect(validateConfig({ servers }).ok).toBe(true);
  });
});

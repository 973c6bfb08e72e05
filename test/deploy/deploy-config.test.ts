// Proves that the multi-replica deployment's config (deploy/gatehouse.yaml, read by every replica in
// deploy/compose.yaml) loads and validates as written: the Redis store with its key prefix, the
// PostgreSQL audit, grants mode with the admin token from the environment.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';

const FILE = fileURLToPath(new URL('../../deploy/gatehouse.yaml', import.meta.url));

describe('deploy/gatehouse.yaml', () => {
  it('loads with the shared Redis state (prefix kept whole) and the PostgreSQL audit', async () => {
    const { config } = await loadConfig({ file: FILE, env: { GATEHOUSE_ADMIN_TOKEN: 'a-long-admin-token-for-tests' } });
    expect(config.state).toBe('redis://redis:6379/0?prefix=gatehouse:');
    expect(config.audit.sink).toBe('postgres://gatehouse:gatehouse@postgres:5432/gatehouse');
    expect(config.auth.mode).toBe('grants');
    expect(Object.keys(config.servers)).toEqual(['everything']);
  });
});

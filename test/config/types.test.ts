// Proves, at compile time (npm run typecheck), that the types derived from the zod schemas keep the
// shape other parts of Gatehouse rely on (DESIGN section 2). The test body only names the checks.
import { describe, expectTypeOf, it } from 'vitest';
import type { LoadedConfig } from '../../src/config/load.js';
import type { GatehouseConfig, ServerConfig } from '../../src/config/schema.js';
import type { PolicyInput } from '../../src/policy/schema.js';
import type { AuditConfig } from '../../src/audit/config-schema.js';
import type { ApprovalsConfig } from '../../src/approvals/config-schema.js';

type JwtConfig = NonNullable<GatehouseConfig['auth']['jwt']>;

type ContractServer = {
  transport: 'stdio' | 'streamable-http' | 'sse';
  command?: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  url?: string;
  headers: Record<string, string>;
  era: 'auto' | 'legacy' | 'modern';
  isolation: 'shared' | 'session';
  policy?: string | PolicyInput;
  pins: 'on' | 'off';
  state_failure: 'closed' | 'open';
  timeout_ms: number;
};

type ContractConfig = {
  listen: { host: string; port: number; cors_origins: string[] };
  state: string;
  audit: AuditConfig;
  auth: {
    mode: 'none' | 'grants' | 'jwt';
    admin_token?: string;
    admin_tokens?: Record<string, { token: string; role: 'viewer' | 'policy_manager' | 'admin' }>;
    jwt?: JwtConfig;
  };
  servers: Record<string, ContractServer>;
  grants: Record<
    string,
    {
      token: string;
      agent?: string;
      servers: string[];
      labels: Record<string, string>;
      expires?: string;
      policy?: string | PolicyInput;
    }
  >;
  limits: {
    max_body_bytes: number;
    max_sessions_per_grant: number;
    max_inflight_per_session: number;
    max_pending_approvals_per_grant: number;
  };
  log?: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' };
  approvals?: ApprovalsConfig;
  cluster?: { id?: string; advertise_url?: string };
};

describe('config types', () => {
  it('ServerConfig has the contract shape', () => {
    expectTypeOf<ServerConfig>().toEqualTypeOf<ContractServer>();
  });

  it('GatehouseConfig has the contract shape', () => {
    expectTypeOf<GatehouseConfig>().toEqualTypeOf<ContractConfig>();
  });

  it('LoadedConfig carries the path, the folder and the config', () => {
    expectTypeOf<LoadedConfig>().toEqualTypeOf<{ path: string | null; dir: string; config: GatehouseConfig }>();
  });
});

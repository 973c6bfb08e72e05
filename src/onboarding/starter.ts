// The starter files of `gatehouse init`: a commented gatehouse.yaml in front of the example server
// that ships with Gatehouse, and its policy. They work as written, so that `gatehouse init &&
// gatehouse start` serves something at once, and the comments show where to go next.
import { exampleServerCommand, EXAMPLE_SERVER_NAME } from '../config/defaults.js';

export const STARTER_POLICY_PATH = `policies/${EXAMPLE_SERVER_NAME}.yaml`;

/** The config, running the example server the way the embedded default config does. */
export function starterConfigYaml(): string {
  const { args } = exampleServerCommand();
  return `# Gatehouse configuration: where the gateway listens, where it keeps its state, and the MCP
# servers behind it, each with its policy. Reference: docs/configuration.md
# Schema for editors: gatehouse schema config > gatehouse.schema.json

# Where MCP clients connect: http://127.0.0.1:8080/mcp/<server>
# Keep a loopback address unless auth is on (see auth below).
listen:
  host: 127.0.0.1
  port: 8080

# Rate-limit counters, tool pins and approvals: memory: | sqlite:PATH | redis://HOST:PORT/DB
state: sqlite:./.gatehouse/state.db

# Every decided call: none | jsonl:PATH | sqlite:PATH | postgres://USER:PASS@HOST/DB
audit: sqlite:./.gatehouse/state.db

# Require a token from every client (a grant), and protect the admin API:
# auth:
#   mode: grants
#   admin_token: \${GATEHOUSE_ADMIN_TOKEN}

servers:
  # The small example server that ships with Gatehouse: notes you can write, read and (not) delete.
  ${EXAMPLE_SERVER_NAME}:
    command: node
    args: ${JSON.stringify(args)}
    policy: ./${STARTER_POLICY_PATH}

  # Your own servers go here; \${VAR} is read from the environment. For example:
  # memory:
  #   command: npx
  #   args: ["-y", "@modelcontextprotocol/server-memory"]
  #   policy: ./policies/memory.yaml   # write one with: gatehouse policy suggest memory -o policies/memory.yaml
  # github:
  #   url: https://api.githubcopilot.com/mcp/
  #   headers: { Authorization: "Bearer \${GITHUB_TOKEN}" }
  #   policy: ./policies/github.yaml
  #
  # Or import what Claude Desktop, Cursor or VS Code already runs: gatehouse import ~/.cursor/mcp.json

# Credentials for agents (with auth.mode: grants), or create them with: gatehouse grants create
# grants:
#   laptop: { token: "\${LAPTOP_TOKEN}", agent: me, servers: [${EXAMPLE_SERVER_NAME}] }
`;
}

export function starterPolicyYaml(): string {
  return `# Policy of the example server. Check it with: gatehouse policy check ${STARTER_POLICY_PATH}
# Reference: docs/policy.md. Try a decision with: gatehouse policy explain example delete_note
version: '1'

# What happens to a tool that no rule below names: deny keeps new tools out until you list them.
default: deny

tools:
  # Read-only tools: an empty rule allows the call.
  echo: {}
  add: {}
  get_time: {}

  # Writes pass, at most 10 a minute for each caller.
  write_note:
    limits:
      - { max: 10, window: minute, scope: grant }

  # Refused, with a reason the agent reads and can act on.
  delete_note:
    action: deny
    reason: Deleting notes is not allowed by the example policy.
    # Or let a person decide each call (gatehouse approvals list / approve ID):
    # action: require_approval

# Resource reads and prompts are allowed too.
resources:
  '*': {}
prompts:
  '*': {}
`;
}

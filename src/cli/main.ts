// The `gatehouse` command line. Each command is a thin wrapper: commander parses the flags, a
// function in this folder does the work and returns the exit code. Command modules are imported when
// their command runs, so that `gatehouse schema` does not load the gateway.
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Argument, Command, CommanderError } from 'commander';
import { EXIT_OK, EXIT_USAGE, processIo, reportFailure, type CliIo } from './io.js';
import { SCHEMA_KINDS, type SchemaKind } from './schema.js';
import type { AuditCommandOptions } from './audit.js';

const CONFIG_FLAG = [
  '-c, --config <file>',
  'config file (default: $GATEHOUSE_CONFIG, then gatehouse.yaml|yml|json here)',
] as const;

export async function main(argv: string[], io: CliIo = processIo): Promise<void> {
  let exitCode = EXIT_OK;
  const run: Run = async (action) => {
    try {
      exitCode = await action();
    } catch (error) {
      exitCode = reportFailure(error, io);
    }
  };
  const program = buildProgram(io, run);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    // Commander has already printed what was wrong; help and --version end with exit code 0.
    if (!(error instanceof CommanderError)) throw error;
    exitCode = error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  process.exitCode = exitCode;
}

/** Runs a command's action and records its exit code. */
export type Run = (action: () => Promise<number> | number) => Promise<void>;

/** The whole command tree (exported for the completion script and the tests that walk it). */
export function buildProgram(io: CliIo, run: Run): Command {
  const program = new Command('gatehouse')
    .description('A policy gateway for the Model Context Protocol: allow, deny, hide, rate-limit and audit MCP calls.')
    .version(packageVersion(), '-V, --version')
    .configureOutput({ writeOut: (text) => io.out(text), writeErr: (text) => io.err(text) })
    .exitOverride()
    .showHelpAfterError('(add --help for usage and examples)')
    .addHelpText(
      'after',
      examples(
        'gatehouse init && gatehouse start',
        'gatehouse import ~/.cursor/mcp.json',
        'gatehouse policy check policies/*.yaml',
      ),
    );

  program
    .command('start')
    .description('run the gateway and print the URL of every endpoint')
    .option(...CONFIG_FLAG)
    .addHelpText('after', examples('gatehouse start', 'gatehouse start -c deploy/gatehouse.yaml'))
    .action((opts: { config?: string }) => run(async () => (await import('./start.js')).startCommand(opts, io)));

  program
    .command('stdio')
    .description('speak MCP on stdin/stdout for one server, under the same policy')
    .argument('<server>', 'name of a configured server')
    .option(...CONFIG_FLAG)
    .option('--grant <token>', 'act as this grant (its servers, policy and limits); or set GATEHOUSE_GRANT')
    .addHelpText(
      'after',
      examples(
        'gatehouse stdio github -c ~/gatehouse/gatehouse.yaml',
        'GATEHOUSE_GRANT=gth_... gatehouse stdio github',
      ),
    )
    .action((server: string, opts: { config?: string; grant?: string }) =>
      run(async () => (await import('./stdio.js')).stdioCommand(server, opts, io)),
    );

  program
    .command('init')
    .description('write a commented starter gatehouse.yaml and policies/example.yaml that work as they are')
    .option('--force', 'overwrite files that exist')
    .addHelpText('after', examples('gatehouse init && gatehouse start', 'gatehouse init --force'))
    .action((opts: { force?: boolean }) => run(async () => (await import('./init.js')).initCommand(opts, io)));

  program
    .command('import')
    .description(
      'turn a Claude Desktop, Cursor, VS Code or Windsurf MCP config into gatehouse.yaml with a suggested policy per server',
    )
    .argument('<file>', "the client's MCP config (claude_desktop_config.json, mcp.json, mcp_config.json, .mcp.json)")
    .option('-o, --output <file>', 'the config to write; policies go to policies/ next to it', 'gatehouse.yaml')
    .option('--dry-run', 'show what would be written, and write nothing')
    .option('--force', 'overwrite files that exist')
    .option(
      '--client <name>',
      'print the snippet for this client (claude-desktop, cursor, vscode, windsurf, claude-code, all)',
    )
    .option('--grant <name>', 'require a token: add a grant of this name whose token is read from $GATEHOUSE_TOKEN')
    .option('--timeout <seconds>', 'how long each server may take to start and list its tools', '30')
    .addHelpText(
      'after',
      examples(
        'gatehouse import ~/.cursor/mcp.json',
        'gatehouse import "$HOME/Library/Application Support/Claude/claude_desktop_config.json" --dry-run',
        'gatehouse import .vscode/mcp.json -o deploy/gatehouse.yaml --grant vscode --client all',
      ),
    )
    .action((file: string, opts: import('./import.js').ImportOptions) =>
      run(async () => (await import('./import.js')).importCommand(file, opts, io)),
    );

  program
    .command('schema')
    .description('print the JSON Schema of the config file or the policy file')
    .addArgument(new Argument('<kind>', 'which schema').choices(SCHEMA_KINDS))
    .addHelpText('after', examples('gatehouse schema policy > policy.schema.json'))
    .action((kind: SchemaKind) => run(async () => (await import('./schema.js')).schemaCommand(kind, io)));

  const policy = program
    .command('policy')
    .description('work with policy files')
    .addHelpText('after', examples('gatehouse policy check policies/github.yaml policies/memory.json'));
  policy
    .command('check')
    .description('validate policy files; print every problem with its JSON path (exit 2 on any problem)')
    .argument('<files...>', 'policy files, YAML or JSON')
    .addHelpText('after', examples('gatehouse policy check policies/*.yaml'))
    .action((files: string[]) => run(async () => (await import('./policy-check.js')).policyCheckCommand(files, io)));

  policy
    .command('explain')
    .description('the decision for one call and the chain of rules, conditions and limits that made it')
    .argument('<server>', 'name of a configured server')
    .argument('<tool>', 'name of the tool, as the server lists it')
    .option('--args <json>', "the call's arguments, a JSON object")
    .option('--grant <name>', 'call as this grant (its agent, labels and policy); default: anonymous')
    .option('--now <time>', 'decide as if at this time (ISO 8601 with a zone); default: now')
    .option(...CONFIG_FLAG)
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      examples(
        'gatehouse policy explain github delete_repository',
        `gatehouse policy explain payments refund --args '{"customer_id": "cus_42", "amount": 120}' --grant support-bot`,
        'gatehouse policy explain memory create_entities --json',
      ),
    )
    .action(
      (
        server: string,
        tool: string,
        opts: { args?: string; grant?: string; now?: string; config?: string; json?: boolean },
      ) => run(async () => (await import('./policy-explain.js')).policyExplainCommand(server, tool, opts, io)),
    );

  policy
    .command('test')
    .description('run policy unit tests: cases of tool, args, grant and the decision expected (exit 1 on a failure)')
    .argument('<files...>', 'test files, YAML or JSON')
    .option('--json', 'print JSON')
    .addHelpText('after', examples('gatehouse policy test policies/tests/*.test.yaml'))
    .action((files: string[], opts: { json?: boolean }) =>
      run(async () => (await import('./policy-test.js')).policyTestCommand(files, opts, io)),
    );

  policy
    .command('replay')
    .description('which recorded calls a new policy would decide differently (from the audit log)')
    .requiredOption('--policy <file>', 'the new policy, YAML or JSON')
    .option('--since <time>', 'replay calls since this long ago (90m, 24h, 7d) or this ISO time', '24h')
    .option('--server <name>', 'the server the policy is for (needed when the period has calls of several servers)')
    .option(...CONFIG_FLAG)
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      examples(
        'gatehouse policy replay --policy policies/github.next.yaml --server github',
        'gatehouse policy replay --policy strict.yaml --since 7d --json',
      ),
    )
    .action((opts: { policy: string; since?: string; server?: string; config?: string; json?: boolean }) =>
      run(async () => (await import('./policy-replay.js')).policyReplayCommand(opts, io)),
    );

  policy
    .command('suggest')
    .description(
      "a recommended policy from the server's catalog (read allowed, writes capped, destructive held for approval)",
    )
    .argument('<server>', 'name of a configured server')
    .option(...CONFIG_FLAG)
    .option('-o, --output <file>', 'write the policy to a file instead of printing it')
    .option('--force', 'overwrite the output file')
    .addHelpText(
      'after',
      examples(
        'gatehouse policy suggest memory > policies/memory.yaml',
        'gatehouse policy suggest github -o policies/github.yaml',
      ),
    )
    .action((server: string, opts: { config?: string; output?: string; force?: boolean }) =>
      run(async () => (await import('./catalog.js')).suggestCommand(server, opts, io)),
    );
  program
    .command('catalog')
    .description('every tool of every server with its category, risk, the reasons, and its pin status')
    .argument('[server]', 'only this server')
    .option(...CONFIG_FLAG)
    .option('--json', 'print JSON')
    .addHelpText('after', examples('gatehouse catalog', 'gatehouse catalog github --json'))
    .action((server: string | undefined, opts: { config?: string; json?: boolean }) =>
      run(async () => (await import('./catalog.js')).catalogCommand(server, opts, io)),
    );
  program
    .command('audit')
    .description('read the audit log: every decided call, newest last; --follow keeps printing new ones')
    .option('--server <name>', 'only calls to this server')
    .option('--tool <name>', 'only this tool (or prompt name, or resource URI)')
    .option('--grant <name>', 'only calls made with this grant')
    .option('--agent <name>', "only this agent's calls")
    .option('--decision <decision>', 'only this decision: allow, deny, hidden, rate_limited, approval_...')
    .option('--since <time>', 'since this long ago (90s, 10m, 1h, 7d) or this ISO time')
    .option('--until <time>', 'before this long ago or this ISO time')
    .option('--limit <n>', 'at most this many records (default 50, at most 1000)')
    .option('--follow', 'keep printing records as they are stored (Ctrl-C ends)')
    .option(...CONFIG_FLAG)
    .option('--json', 'print JSON (with --follow: one record per line)')
    .addHelpText(
      'after',
      examples(
        'gatehouse audit --since 1h',
        'gatehouse audit --server github --decision deny --json',
        'gatehouse audit --follow',
      ),
    )
    .action((opts: AuditCommandOptions) => run(async () => (await import('./audit.js')).auditCommand(opts, io)));
  const pins = program
    .command('pins')
    .description('tool-definition pins: a tool that changes after it was first seen is blocked until accepted')
    .addHelpText(
      'after',
      examples('gatehouse pins list', 'gatehouse pins diff github', 'gatehouse pins accept github create_issue'),
    );
  pins
    .command('list')
    .description('every pinned tool and whether it changed since')
    .argument('[server]', 'only this server')
    .option(...CONFIG_FLAG)
    .option('--json', 'print JSON')
    .addHelpText('after', examples('gatehouse pins list --json'))
    .action((server: string | undefined, opts: { config?: string; json?: boolean }) =>
      run(async () => (await import('./pins.js')).pinsListCommand({ ...opts, ...(server ? { server } : {}) }, io)),
    );
  pins
    .command('diff')
    .description("show how a server's changed tools differ from their pins")
    .argument('<server>', 'name of a configured server')
    .option(...CONFIG_FLAG)
    .addHelpText('after', examples('gatehouse pins diff github'))
    .action((server: string, opts: { config?: string }) =>
      run(async () => (await import('./pins.js')).pinsDiffCommand(server, opts, io)),
    );
  pins
    .command('accept')
    .description("accept a server's changed tools (all of them, or one)")
    .argument('<server>', 'name of a configured server')
    .argument('[tool]', 'only this tool')
    .option('--hash <sha256>', 'only a change of this sha256, as `pins diff` showed it')
    .option(...CONFIG_FLAG)
    .addHelpText(
      'after',
      examples(
        'gatehouse pins accept github',
        'gatehouse pins accept github create_issue',
        'gatehouse pins accept github create_issue --hash 3f2a…',
      ),
    )
    .action((server: string, tool: string | undefined, opts: { config?: string; hash?: string }) =>
      run(async () => (await import('./pins.js')).pinsAcceptCommand(server, tool, opts, io)),
    );
  addApprovalsCommands(program, io, run);
  addGrantsCommands(program, io, run);
  program
    .command('completion')
    .description('print a shell completion script (bash, zsh or fish)')
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh', 'fish']))
    .addHelpText(
      'after',
      examples(
        'gatehouse completion bash > ~/.local/share/bash-completion/completions/gatehouse',
        'eval "$(gatehouse completion bash)"        # or add this line to ~/.bashrc',
        'source <(gatehouse completion zsh)         # add to ~/.zshrc',
        'gatehouse completion fish > ~/.config/fish/completions/gatehouse.fish',
      ),
    )
    .action((shell: 'bash' | 'zsh' | 'fish') =>
      run(async () => (await import('./completion.js')).completionCommand(shell, program, io)),
    );
  return program;
}

function addGrantsCommands(program: Command, io: CliIo, run: Run): void {
  const grants = program
    .command('grants')
    .description('credentials for agents: each grant is a token, the servers it may use, and who it is')
    .addHelpText(
      'after',
      examples(
        'gatehouse grants create ci-bot --server github --agent ci --label team=platform --expires 30d',
        'gatehouse grants list',
        'gatehouse grants revoke ci-bot',
      ),
    );
  const collect = (value: string, previous: string[] = []) => [...previous, value];
  grants
    .command('create')
    .description('create a grant and print its token (shown once; only its hash is kept)')
    .argument('<name>', 'the grant name')
    .requiredOption('--server <name>', 'a server the grant may use (repeat for several)', collect)
    .option('--agent <name>', 'the agent it identifies (default: the grant name)')
    .option('--label <key=value>', 'a label for policy conditions and limits (repeatable)', collect)
    .option('--policy <file>', "a policy that replaces the servers' policies for this grant")
    .option('--expires <when>', 'a duration (30d, 12h) or a date (2026-12-31)')
    .option(...CONFIG_FLAG)
    .option('--json', 'print JSON (with the token)')
    .addHelpText(
      'after',
      examples(
        'gatehouse grants create cursor-laptop --server memory --server github',
        'gatehouse grants create ci-bot --server github --label team=platform --expires 30d --json',
      ),
    )
    .action((name: string, opts: import('./grants.js').GrantsCreateOptions) =>
      run(async () => (await import('./grants.js')).grantsCreateCommand(name, opts, io)),
    );
  grants
    .command('list')
    .description('every grant, from the config file and the state store (never their tokens)')
    .option(...CONFIG_FLAG)
    .option('--json', 'print JSON')
    .addHelpText('after', examples('gatehouse grants list', 'gatehouse grants list --json'))
    .action((opts: { config?: string; json?: boolean }) =>
      run(async () => (await import('./grants.js')).grantsListCommand(opts, io)),
    );
  grants
    .command('revoke')
    .description('revoke a grant: its token is refused from the next request on')
    .argument('<name>', 'the grant name')
    .option(...CONFIG_FLAG)
    .addHelpText('after', examples('gatehouse grants revoke ci-bot'))
    .action((name: string, opts: { config?: string }) =>
      run(async () => (await import('./grants.js')).grantsRevokeCommand(name, opts, io)),
    );
}

function addApprovalsCommands(program: Command, io: CliIo, run: Run): void {
  const approvals = program
    .command('approvals')
    .description('calls held for a person: list them, approve or deny them')
    .addHelpText(
      'after',
      examples(
        'gatehouse approvals list',
        'gatehouse approvals approve apr_0123abcd',
        'gatehouse approvals deny apr_0123abcd --reason "not during the freeze"',
      ),
    );
  approvals
    .command('list')
    .description('pending approvals (with --all, every recent approval and how it ended)')
    .option('--all', 'every status, not only pending')
    .option(...CONFIG_FLAG)
    .option('--json', 'print JSON')
    .addHelpText('after', examples('gatehouse approvals list', 'gatehouse approvals list --all --json'))
    .action((opts: { config?: string; json?: boolean; all?: boolean }) =>
      run(async () => (await import('./approvals.js')).approvalsListCommand(opts, io)),
    );
  for (const [name, approve] of [
    ['approve', true],
    ['deny', false],
  ] as const) {
    approvals
      .command(name)
      .description(`${name} a pending approval (exit 1 when it is not pending)`)
      .argument('<id>', 'the approval id, as listed (apr_...)')
      .option('--reason <text>', approve ? 'why (recorded)' : 'why (recorded, and shown to the agent)')
      .option(...CONFIG_FLAG)
      .addHelpText('after', examples(`gatehouse approvals ${name} apr_0123abcd --reason "checked with the owner"`))
      .action((id: string, opts: { config?: string; reason?: string }) =>
        run(async () => (await import('./approvals.js')).approvalsAnswerCommand(id, approve, opts, io)),
      );
  }
}

function examples(...lines: string[]): string {
  return `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((line) => `  $ ${line}`).join('\n')}`;
}

/** The version in package.json, two folders up from both src/cli/ and dist/cli/. */
function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

// Run when executed directly (`node --import tsx src/cli/main.ts`); bin/gatehouse.js calls main itself.
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  await main(process.argv.slice(2));
}

// `gatehouse init`: writes a commented starter gatehouse.yaml and policies/example.yaml in the
// working directory; `gatehouse start` serves them as they are.
import { resolve } from 'node:path';
import { STARTER_POLICY_PATH, starterConfigYaml, starterPolicyYaml } from '../onboarding/starter.js';
import { pathTaken, replaceFile, SHARED_FILE_MODE } from '../onboarding/write-files.js';
import { coloursFor } from './colour.js';
import { EXIT_OK, UsageError, type CliIo } from './io.js';

export async function initCommand(opts: { force?: boolean }, io: CliIo): Promise<number> {
  const files = [
    { shown: 'gatehouse.yaml', text: starterConfigYaml() },
    { shown: STARTER_POLICY_PATH, text: starterPolicyYaml() },
  ];
  // A link pointing nowhere counts as a file: writing through it would create its target.
  const existing = files.filter((f) => pathTaken(resolve(f.shown))).map((f) => f.shown);
  if (existing.length > 0 && !opts.force) {
    throw new UsageError(
      `${existing.join(' and ')} already exist${existing.length === 1 ? 's' : ''}; add --force to overwrite`,
    );
  }
  // The starter files hold no secrets: they keep the usual mode.
  for (const f of files) replaceFile(resolve(f.shown), f.text, SHARED_FILE_MODE);
  const c = coloursFor(process.stdout);
  io.out(
    [
      `${c.green('Wrote')} ${files.map((f) => f.shown).join(' and ')}.`,
      '',
      'Next:',
      '  gatehouse start                                  run the gateway',
      '  point an MCP client at http://127.0.0.1:8080/mcp/example',
      '  gatehouse import ~/.cursor/mcp.json --dry-run    bring in the servers your client already uses',
    ].join('\n'),
  );
  return EXIT_OK;
}

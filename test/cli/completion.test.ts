// Proves the command line's conveniences: every command's --help ends with an Examples section,
// every listing command takes --json, the completion scripts are generated from the command tree
// (a bash script run in a real bash completes subcommands and flags), and colour and the progress
// spinner appear only on a terminal with NO_COLOR unset.
import { execFileSync } from 'node:child_process';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram, main } from '../../src/cli/main.js';
import { completionScript, completionTree } from '../../src/cli/completion.js';
import { coloursFor } from '../../src/cli/colour.js';
import { startProgress } from '../../src/cli/progress.js';

const silent = { out: () => {}, err: () => {} };
const program = buildProgram(silent, async () => {});

/** Every command path in the tree, e.g. ['policy', 'check']. */
function commandPaths(cmd: Command, prefix: string[] = []): string[][] {
  return cmd.commands.flatMap((c) => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])]);
}

async function helpOf(path: string[]): Promise<string> {
  let out = '';
  await main([...path, '--help'], { out: (t) => void (out += t), err: () => {} });
  process.exitCode = 0;
  return out;
}

describe('help', () => {
  it.each(commandPaths(program).map((p) => [p.join(' ')]))('gatehouse %s --help shows examples', async (path) => {
    const help = await helpOf(path.split(' '));
    expect(help).toMatch(new RegExp(`^Usage: gatehouse ${path}`));
    expect(help).toMatch(/\nExamples?:\n {2}\$ gatehouse /);
  });

  it('every listing command (list, catalog, audit, and the policy reports) takes --json', () => {
    const listing = commandPaths(program).filter((p) =>
      ['list', 'catalog', 'audit', 'explain', 'test', 'replay'].includes(p.at(-1)!),
    );
    expect(listing.length).toBeGreaterThanOrEqual(8);
    for (const path of listing) {
      let cmd: Command = program;
      for (const name of path) cmd = cmd.commands.find((c) => c.name() === name)!;
      expect(
        cmd.options.map((o) => o.long),
        path.join(' '),
      ).toContain('--json');
    }
  });
});

describe('gatehouse completion', () => {
  it('the tree has every command, its flags and argument choices', () => {
    const tree = new Map(completionTree(program).map((n) => [n.key, n.words.map((w) => w.word)]));
    expect(tree.get('gatehouse')).toEqual(expect.arrayContaining(['start', 'import', 'init', 'completion', 'policy']));
    expect(tree.get('gatehouse_import')).toEqual(expect.arrayContaining(['--dry-run', '--force', '-o', '--output']));
    expect(tree.get('gatehouse_schema')).toEqual(expect.arrayContaining(['config', 'policy']));
    expect(tree.get('gatehouse_completion')).toEqual(expect.arrayContaining(['bash', 'zsh', 'fish']));
  });

  it('the bash script completes subcommands and flags in a real bash', () => {
    const script = completionScript('bash', program);
    const complete = (words: string[]) =>
      execFileSync(
        'bash',
        [
          '-c',
          `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _gatehouse; echo "\${COMPREPLY[@]}"`,
        ],
        { encoding: 'utf8' },
      ).trim();
    expect(complete(['gatehouse', 'po']).split(' ')).toEqual(['policy']);
    expect(complete(['gatehouse', 'policy', '']).split(' ')).toEqual(
      expect.arrayContaining(['check', 'explain', 'suggest']),
    );
    expect(complete(['gatehouse', 'policy', 'explain', 'srv', '--j'])).toBe('--json');
    expect(complete(['gatehouse', 'import', 'mcp.json', '--dr'])).toBe('--dry-run');
  });

  it('the zsh and fish scripts name every command path', () => {
    const zsh = completionScript('zsh', program);
    const fish = completionScript('fish', program);
    expect(zsh).toMatch(/^#compdef gatehouse/);
    for (const path of commandPaths(program)) {
      const key = ['gatehouse', ...path].join('_');
      expect(zsh).toContain(`(${key}) items=(`);
      expect(fish).toContain(`-n '__gatehouse_at ${key}'`);
    }
    expect(fish).toContain("complete -c gatehouse -n '__gatehouse_at gatehouse_import' -l dry-run");
  });
});

describe('colour and progress', () => {
  it('colours only a terminal, and never with NO_COLOR set', () => {
    expect(coloursFor({ isTTY: true }, {}).red('x')).toBe('\x1b[31mx\x1b[39m');
    expect(coloursFor({ isTTY: true }, { NO_COLOR: '1' }).red('x')).toBe('x');
    expect(coloursFor({ isTTY: false }, {}).red('x')).toBe('x');
  });

  it('prints plain lines when piped, and redraws one line on a terminal', () => {
    let piped = '';
    const plain = startProgress({ isTTY: false, write: (t) => (piped += t) }, 'Reading', ['a', 'b']);
    plain.done('b', 'ok b');
    plain.done('a', 'ok a');
    plain.stop();
    expect(piped).toBe('Reading (2)\nok b\nok a\n');

    let tty = '';
    const live = startProgress({ isTTY: true, write: (t) => (tty += t) }, 'Reading', ['a', 'b']);
    live.done('a', 'ok a');
    live.stop();
    expect(tty).toContain('\r\x1b[2Kok a\n');
    expect(tty).toMatch(/Reading: 1\/2 {2}b/);
  });
});

// `gatehouse completion bash|zsh|fish`: a shell completion script generated from the command tree
// itself, so that a new command or flag completes without anyone editing a script.
import type { Command } from 'commander';
import { EXIT_OK, type CliIo } from './io.js';

export type Shell = 'bash' | 'zsh' | 'fish';

interface Word {
  word: string;
  description: string;
}

interface Node {
  /** The command path joined with underscores: gatehouse_policy_check. */
  key: string;
  /** Subcommands first, then argument choices, then flags. */
  words: Word[];
  subcommands: string[];
}

/** Every command of the tree, depth first, with what may follow it. */
export function completionTree(root: Command): Node[] {
  const nodes: Node[] = [];
  const visit = (cmd: Command, key: string) => {
    const subs = cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);
    const words: Word[] = [
      ...subs.map((c) => ({ word: c.name(), description: c.description() })),
      ...cmd.registeredArguments.flatMap((a) =>
        (a.argChoices ?? []).map((choice) => ({ word: choice, description: a.description || a.name() })),
      ),
      ...cmd.options.flatMap((o) =>
        [o.long, o.short].filter((f): f is string => !!f).map((flag) => ({ word: flag, description: o.description })),
      ),
      { word: '--help', description: 'display help for the command' },
    ];
    nodes.push({ key, words, subcommands: subs.map((c) => c.name()) });
    for (const sub of subs) visit(sub, `${key}_${sub.name()}`);
  };
  visit(root, root.name());
  return nodes;
}

export function completionScript(shell: Shell, root: Command): string {
  const nodes = completionTree(root);
  const name = root.name();
  // The case patterns that step from a command to one of its subcommands.
  const steps = nodes.flatMap((n) => n.subcommands.map((s) => `${n.key}:${s}`)).join('|');
  switch (shell) {
    case 'bash':
      return [
        `# ${name} completion for bash. Load it with: eval "$(${name} completion bash)"`,
        `_${name}() {`,
        `  local cur="\${COMP_WORDS[COMP_CWORD]}" cmd=${name} i words=""`,
        '  for ((i = 1; i < COMP_CWORD; i++)); do',
        `    case "$cmd:\${COMP_WORDS[i]}" in`,
        `      ${steps}) cmd="\${cmd}_\${COMP_WORDS[i]}" ;;`,
        '    esac',
        '  done',
        '  case "$cmd" in',
        ...nodes.map((n) => `    ${n.key}) words="${n.words.map((w) => w.word).join(' ')}" ;;`),
        '  esac',
        '  COMPREPLY=($(compgen -W "$words" -- "$cur"))',
        '}',
        // -o default: file names when no word matches (policy files, client configs).
        `complete -o default -F _${name} ${name}`,
        '',
      ].join('\n');
    case 'zsh':
      return [
        `#compdef ${name}`,
        `# ${name} completion for zsh. Load it with: source <(${name} completion zsh)`,
        `_${name}() {`,
        `  local cmd=${name} i`,
        '  local -a items',
        '  for ((i = 2; i < CURRENT; i++)); do',
        `    case "$cmd:\${words[i]}" in`,
        `      (${steps}) cmd="\${cmd}_\${words[i]}" ;;`,
        '    esac',
        '  done',
        '  case "$cmd" in',
        ...nodes.map(
          (n) =>
            `    (${n.key}) items=(${n.words.map((w) => zshQuote(`${w.word.replace(/:/g, '\\:')}:${w.description}`)).join(' ')}) ;;`,
        ),
        '  esac',
        `  _describe '${name}' items || _files`,
        '}',
        `compdef _${name} ${name}`,
        '',
      ].join('\n');
    case 'fish':
      return [
        `# ${name} completion for fish. Load it with: ${name} completion fish | source`,
        `function __${name}_at`,
        `  set -l cmd ${name}`,
        '  for w in (commandline -opc)[2..-1]',
        '    switch "$cmd:$w"',
        `      case ${nodes.flatMap((n) => n.subcommands.map((s) => fishQuote(`${n.key}:${s}`))).join(' ')}`,
        '        set cmd "$cmd"_"$w"',
        '    end',
        '  end',
        '  test "$cmd" = "$argv[1]"',
        'end',
        ...nodes.flatMap((n) =>
          n.words.map((w) => {
            const flag = w.word.startsWith('--')
              ? `-l ${w.word.slice(2)}`
              : w.word.startsWith('-')
                ? `-s ${w.word.slice(1)}`
                : `-f -a ${fishQuote(w.word)}`;
            return `complete -c ${name} -n '__${name}_at ${n.key}' ${flag} -d ${fishQuote(w.description)}`;
          }),
        ),
        '',
      ].join('\n');
  }
}

function zshQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

function fishQuote(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function completionCommand(shell: Shell, root: Command, io: CliIo): number {
  io.out(completionScript(shell, root));
  return EXIT_OK;
}

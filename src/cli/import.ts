// `gatehouse import FILE`: turns the MCP server list of Claude Desktop, Cursor, VS Code, Windsurf or
// Claude Code into a gatehouse.yaml with a suggested policy per server, and prints what the client
// needs to reach those servers through Gatehouse instead.
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { suggestPolicyYaml } from '../catalog/suggest.js';
import type { ServerCatalog } from '../catalog/catalog.js';
import {
  CLIENT_LABELS,
  ClientConfigError,
  importClientConfig,
  type ClientImport,
  type ClientKind,
} from '../onboarding/client-configs.js';
import { defaultDenyPolicyYaml, importedConfigYaml, type GrantPlan } from '../onboarding/imported-config.js';
import { readImportedTools } from '../onboarding/read-tools.js';
import { CLIENT_KINDS, describeSnippet } from '../onboarding/snippets.js';
import { pathTaken, PRIVATE_FILE_MODE, replaceFile, SHARED_FILE_MODE } from '../onboarding/write-files.js';
import { coloursFor } from './colour.js';
import { EXIT_OK, UsageError, type CliIo } from './io.js';
import { startProgress, type ProgressStream } from './progress.js';

export interface ImportOptions {
  output?: string;
  dryRun?: boolean;
  force?: boolean;
  /** Client whose snippet to print (default: the one the file came from), or `all`. */
  client?: string;
  /** Protect the endpoints with a grant of this name; its token is read from GATEHOUSE_TOKEN. */
  grant?: string;
  /** Seconds each server gets to start and list its tools. */
  timeout?: string;
}

interface PlannedFile {
  path: string;
  text: string;
  mode: number;
}

const TOKEN_VARIABLE = 'GATEHOUSE_TOKEN';

export async function importCommand(
  file: string,
  opts: ImportOptions,
  io: CliIo,
  progressStream: ProgressStream = process.stderr,
): Promise<number> {
  const source = resolve(file);
  const imported = readClientFile(source, file);
  const snippetClients = chooseClients(opts.client, imported.client);
  const timeoutMs = parseTimeout(opts.timeout);
  const configPath = resolve(opts.output ?? 'gatehouse.yaml');
  const configDir = dirname(configPath);
  const policyPath = (server: string) => `./policies/${server}.yaml`;
  const policyFile = (server: string) => join(configDir, 'policies', `${server}.yaml`);
  if (imported.servers.length === 0) throw new UsageError(`${file} lists no MCP servers to import`);

  const targets = [configPath, ...imported.servers.map((s) => policyFile(s.name))];
  // A link pointing nowhere counts as a file: writing through it would create its target.
  const existing = targets.filter((p) => pathTaken(p));
  if (existing.length > 0 && !opts.force && !opts.dryRun) {
    throw new UsageError(
      `${existing.map(shown).join(', ')} already exist${existing.length === 1 ? 's' : ''}; ` +
        'add --force to overwrite, or choose another file with -o',
    );
  }
  const grant: GrantPlan | undefined = opts.grant ? { name: opts.grant, variable: TOKEN_VARIABLE } : undefined;
  const c = coloursFor(process.stdout);
  const e = coloursFor(progressStream as { isTTY?: boolean });

  io.out(
    `${c.bold(`Importing ${imported.servers.length} server${plural(imported.servers)}`)} from ${file} (${CLIENT_LABELS[imported.client]})`,
  );
  for (const s of imported.servers) {
    io.out(s.original === s.name ? `  ${s.name}` : `  ${s.original} -> ${s.name}`);
  }

  const progress = startProgress(
    progressStream,
    'Starting each server to read its tools',
    imported.servers.map((s) => s.name),
  );
  const catalogs = new Map<string, ServerCatalog>();
  try {
    await Promise.all(
      imported.servers.map(async (s) => {
        const catalog = await readImportedTools(s, timeoutMs);
        catalogs.set(s.name, catalog);
        progress.done(
          s.name,
          catalog.ok
            ? `${e.green('ok')}     ${s.name}: ${describeTools(catalog)}`
            : `${e.red('failed')} ${s.name}: could not start: ${catalog.error}`,
        );
      }),
    );
  } finally {
    progress.stop();
  }

  const files: PlannedFile[] = [
    {
      path: configPath,
      text: importedConfigYaml(imported, { source: file, policyPath, ...(grant ? { grant } : {}) }),
      // It holds the env values and headers of the client's file as they were (API keys, bearer
      // tokens), which that file often kept private: only its owner may read it.
      mode: PRIVATE_FILE_MODE,
    },
    ...imported.servers.map((s) => {
      const catalog = catalogs.get(s.name)!;
      return {
        path: policyFile(s.name),
        mode: SHARED_FILE_MODE,
        text: catalog.ok
          ? suggestPolicyYaml(s.name, catalog.tools)
          : defaultDenyPolicyYaml(s.name, catalog.error ?? 'unknown error', policyPath(s.name).slice(2)),
      };
    }),
  ];
  if (opts.dryRun) {
    io.out(`\n${c.yellow('Dry run: nothing was written.')} These files would be written:`);
    for (const f of files)
      io.out(`\n--- ${shown(f.path)}${pathTaken(f.path) ? ' (exists: needs --force)' : ''}\n${f.text.trimEnd()}`);
  } else {
    for (const f of files) replaceFile(f.path, f.text, f.mode);
    io.out(`\nWrote ${files.map((f) => shown(f.path)).join(', ')}`);
  }

  const failed = [...catalogs.values()].filter((k) => !k.ok);
  const notes = [
    ...imported.notes,
    ...failed.map(
      (k) =>
        `${k.server} could not be started, so its policy denies every call. Fix it, then: ` +
        `gatehouse policy suggest ${k.server} -o ${policyPath(k.server).slice(2)} --force`,
    ),
    ...imported.inputs.map(
      (i) =>
        `set ${i.variable}${i.description ? ` (${i.description})` : ''}: it replaces \${input:${i.id}} from VS Code`,
    ),
    ...(grant
      ? [`set ${TOKEN_VARIABLE} to a long random secret for grant "${grant.name}" (e.g. openssl rand -hex 32)`]
      : []),
  ];
  if (notes.length > 0) io.out(`\n${c.yellow('Notes:')}\n${notes.map((n) => `  - ${n}`).join('\n')}`);

  const snippet = {
    baseUrl: 'http://127.0.0.1:8080',
    servers: imported.servers.map((s) => s.name),
    configPath,
    ...(grant ? { tokenVariable: TOKEN_VARIABLE } : {}),
  };
  io.out(`\n${c.bold('Point your client at Gatehouse')}`);
  for (const client of snippetClients) io.out(`\n${describeSnippet(client, snippet)}`);
  const custom = opts.output !== undefined && resolve(opts.output) !== resolve('gatehouse.yaml');
  io.out(`\nThen run: gatehouse start${custom ? ` -c ${opts.output}` : ''}`);
  return EXIT_OK;
}

/** A path as the user would type it: relative below the working directory, else absolute. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}

function readClientFile(path: string, shown: string): ClientImport {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === 'ENOENT' ? `${shown} does not exist` : `cannot read ${shown} (${code ?? String(error)})`,
    );
  }
  let doc: unknown;
  try {
    // VS Code's files are JSON with comments and trailing commas.
    doc = JSON.parse(relaxedJson(text));
  } catch (error) {
    throw new UsageError(`${shown} is not valid JSON: ${(error as Error).message.split('\n')[0]}`);
  }
  try {
    return importClientConfig(doc, path);
  } catch (error) {
    if (error instanceof ClientConfigError) throw new UsageError(error.message.replace(path, shown));
    throw error;
  }
}

/** JSON with comments and trailing commas made plain JSON; strings are left alone. */
export function relaxedJson(text: string): string {
  return text
    .replace(/("(?:[^"\\]|\\.)*")|\/\/[^\n]*|\/\*[\s\S]*?\*\//g, (_m, str: string | undefined) => str ?? '')
    .replace(
      /("(?:[^"\\]|\\.)*")|,(\s*[}\]])/g,
      (_m, str: string | undefined, close: string | undefined) => str ?? close!,
    );
}

function chooseClients(option: string | undefined, detected: ClientKind): ClientKind[] {
  if (option === undefined) return [detected];
  if (option === 'all') return [detected, ...CLIENT_KINDS.filter((k) => k !== detected)];
  if ((CLIENT_KINDS as string[]).includes(option)) return [option as ClientKind];
  throw new UsageError(`unknown client "${option}" for --client; choose one of: ${CLIENT_KINDS.join(', ')}, all`);
}

function parseTimeout(value: string | undefined): number {
  if (value === undefined) return 30_000;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new UsageError(`--timeout expects seconds, e.g. 30; got "${value}"`);
  return seconds * 1000;
}

function describeTools(catalog: ServerCatalog): string {
  const counts = new Map<string, number>();
  for (const t of catalog.tools) counts.set(t.category, (counts.get(t.category) ?? 0) + 1);
  const parts = [...counts].map(([category, n]) => `${n} ${category}`);
  return `${catalog.tools.length} tool${catalog.tools.length === 1 ? '' : 's'}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

function plural(list: unknown[]): string {
  return list.length === 1 ? '' : 's';
}

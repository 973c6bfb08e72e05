// Reading a YAML or JSON document from disk, for config and policy files alike. Syntax errors come
// back as problems with a line and column, so that they print like every other problem.
import { readFile, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError } from './errors.js';
import type { Problem } from './problems.js';

export async function readStructuredFile(file: string): Promise<unknown> {
  let text: string;
  try {
    // Only a regular file: a FIFO put in a policy file's place would hold the read (and every
    // reload after it) for ever, and /dev/zero would never end.
    if (!(await stat(file)).isFile()) throw new ConfigError('CONFIG_PARSE', file, 'not a regular file');
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigError('CONFIG_NOT_FOUND', file, 'file not found');
    throw new ConfigError('CONFIG_PARSE', file, `cannot read the file (${code ?? String(error)})`);
  }
  return parseStructuredText(text, file);
}

/** JSON for `.json` files (so that tab-indented JSON is fine), YAML for everything else. */
export function parseStructuredText(text: string, file: string): unknown {
  return extname(file).toLowerCase() === '.json' ? parseJson(text, file) : parseYaml(text, file);
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ConfigError('CONFIG_PARSE', file, 'not valid JSON', [jsonProblem(text, (error as Error).message)]);
  }
}

function jsonProblem(text: string, message: string): Problem {
  const position = /at position (\d+)/.exec(message);
  if (!position) return { path: '', message };
  const before = text.slice(0, Number(position[1])).split('\n');
  const reason = message.replace(/\s*(in JSON )?at position \d+.*$/, '');
  return { path: '', message: `${at({ line: before.length, col: before.at(-1)!.length + 1 })}: ${reason}` };
}

function parseYaml(text: string, file: string): unknown {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((error) => ({
      path: '',
      message: `${at(lineCounter.linePos(error.pos[0]))}: ${error.message}`,
    }));
    throw new ConfigError('CONFIG_PARSE', file, 'not valid YAML', problems);
  }
  return doc.toJS({ maxAliasCount: 1000 }) as unknown;
}

function at(pos: { line: number; col: number }): string {
  return `line ${pos.line}, column ${pos.col}`;
}

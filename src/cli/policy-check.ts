// `gatehouse policy check FILE...`: validates policy files whole and prints every problem with its
// JSON path. Exit 2 when any file has a problem, so that CI can gate policy changes.
import { resolve } from 'node:path';
import { ConfigError, problemCount } from '../config/errors.js';
import { formatProblemLines, type Problem } from '../config/problems.js';
import { readStructuredFile } from '../config/structured-file.js';
import { loadPolicy, PolicyError } from '../policy/compile.js';
import { EXIT_OK, EXIT_USAGE, type CliIo } from './io.js';

export async function policyCheckCommand(files: string[], io: CliIo): Promise<number> {
  let failed = 0;
  for (const file of files) {
    const problems = await policyProblems(resolve(file));
    if (problems.length === 0) {
      io.out(`${file}: ok`);
      continue;
    }
    failed++;
    io.out(`${file}: ${problemCount(problems)}\n${formatProblemLines(problems)}`);
  }
  if (failed > 0 && files.length > 1) io.out(`${failed} of ${files.length} policy files have problems`);
  return failed > 0 ? EXIT_USAGE : EXIT_OK;
}

async function policyProblems(file: string): Promise<Problem[]> {
  try {
    // The same load the gateway does: schema and CEL expressions, every problem at once.
    loadPolicy(await readStructuredFile(file));
    return [];
  } catch (error) {
    if (error instanceof PolicyError) return error.problems;
    if (!(error instanceof ConfigError)) throw error;
    return error.problems.length > 0 ? error.problems : [{ path: '', message: error.summary }];
  }
}

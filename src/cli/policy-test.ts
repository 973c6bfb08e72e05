// `gatehouse policy test FILE...`: runs policy unit tests and prints pass or fail per case, with the
// explanation of every failure. Exit 1 when a case fails, 2 when a file is invalid (that wins).
import { relative } from 'node:path';
import { problemCount } from '../config/errors.js';
import { formatProblemLines } from '../config/problems.js';
import { formatExplanation } from '../policy/explain-format.js';
import { runPolicyTestFile, type TestFileResult } from '../policy/test-runner.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo } from './io.js';

export async function policyTestCommand(files: string[], opts: { json?: boolean }, io: CliIo): Promise<number> {
  const results: TestFileResult[] = [];
  for (const file of files) results.push(await runPolicyTestFile(file));
  if (opts.json) io.out(JSON.stringify(results, null, 2));
  else io.out(results.map(renderFile).join('\n\n') + summary(results));
  if (results.some((r) => !r.ok)) return EXIT_USAGE;
  return results.some((r) => r.ok && r.cases.some((c) => !c.passed)) ? EXIT_FAILURE : EXIT_OK;
}

function renderFile(r: TestFileResult): string {
  if (!r.ok) return `${r.file}: invalid test file (${problemCount(r.problems)})\n${formatProblemLines(r.problems)}`;
  const lines = [`${r.file} (policy ${r.policy === 'inline' ? 'inline' : relative(process.cwd(), r.policy)})`];
  for (const c of r.cases) {
    if (c.passed) {
      lines.push(`  pass  ${c.name}`);
      continue;
    }
    lines.push(`  FAIL  ${c.name}: ${c.mismatches.join('; ')}`);
    lines.push(indent(formatExplanation(c.explanation), 8));
  }
  const failed = r.cases.filter((c) => !c.passed).length;
  lines.push(failed === 0 ? `  ${r.cases.length} passed` : `  ${failed} of ${r.cases.length} failed`);
  return lines.join('\n');
}

function summary(results: TestFileResult[]): string {
  if (results.length < 2) return '';
  const cases = results.flatMap((r) => (r.ok ? r.cases : []));
  const failed = cases.filter((c) => !c.passed).length;
  const invalid = results.filter((r) => !r.ok).length;
  return (
    `\n\n${results.length} files, ${plural(cases.length, 'case')}: ${cases.length - failed} passed, ${failed} failed` +
    (invalid > 0 ? `, ${invalid} invalid file${invalid === 1 ? '' : 's'}` : '')
  );
}

function indent(text: string, n: number): string {
  const pad = ' '.repeat(n);
  return text
    .split('\n')
    .map((line) => (line === '' ? line : pad + line))
    .join('\n');
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

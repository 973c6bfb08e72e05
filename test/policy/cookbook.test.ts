// Proves the cookbook (docs/cookbook.md) is true: every recipe links a test file that exists, the
// policy each recipe shows is exactly the policy its test loads, no test file is left without a
// recipe, and every test file passes when run through `gatehouse policy test`'s own code (the
// command's function, with its output and exit code).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { policyTestCommand } from '../../src/cli/policy-test.js';

const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));
const COOKBOOK = join(DOCS, 'cookbook.md');
const TESTS_DIR = join(DOCS, 'cookbook');

interface Recipe {
  title: string;
  /** The test file the recipe links, relative to docs/. */
  test?: string;
  /** The recipe's first YAML block: the policy it shows. */
  policy?: unknown;
}

function recipes(): Recipe[] {
  const sections = readFileSync(COOKBOOK, 'utf8').split(/^## /m).slice(1);
  return sections.map((section) => {
    const title = section.split('\n')[0]!.trim();
    const test = /\]\((cookbook\/[a-z0-9-]+\.test\.ya?ml)\)/.exec(section)?.[1];
    const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    return { title, ...(test ? { test } : {}), ...(block ? { policy: parse(block) as unknown } : {}) };
  });
}

/** The policy a test file uses: inline, or the file it names relative to itself. */
function policyOfTestFile(file: string): unknown {
  const doc = parse(readFileSync(file, 'utf8')) as { policy: unknown };
  if (typeof doc.policy !== 'string') return doc.policy;
  return parse(readFileSync(resolve(dirname(file), doc.policy), 'utf8')) as unknown;
}

const testFiles = readdirSync(TESTS_DIR)
  .filter((f) => /\.test\.ya?ml$/.test(f))
  .sort();

describe('the cookbook', () => {
  it('has at least ten recipes', () => {
    expect(recipes().length).toBeGreaterThanOrEqual(10);
  });

  it.each(recipes().map((r) => [r.title, r] as const))('recipe "%s" links a test file that exists', (_title, r) => {
    expect(r.test, 'the recipe links no docs/cookbook/<recipe>.test.yaml').toBeDefined();
    expect(testFiles).toContain(r.test!.replace('cookbook/', ''));
  });

  it.each(recipes().map((r) => [r.title, r] as const))(
    'recipe "%s" shows exactly the policy its test proves',
    (_title, r) => {
      expect(r.policy, 'the recipe shows no ```yaml policy').toBeDefined();
      expect(r.policy).toEqual(policyOfTestFile(join(DOCS, r.test!)));
    },
  );

  it('every test file in docs/cookbook/ belongs to a recipe', () => {
    const linked = new Set(recipes().map((r) => r.test?.replace('cookbook/', '')));
    expect(testFiles.filter((f) => !linked.has(f))).toEqual([]);
  });

  it.each(testFiles)('%s passes under `gatehouse policy test`', async (file) => {
    let output = '';
    const io = { out: (text: string) => void (output += `${text}\n`), err: (text: string) => void (output += text) };
    const code = await policyTestCommand([join(TESTS_DIR, file)], {}, io);
    expect(output).not.toContain('FAIL');
    expect(code, output).toBe(0);
    expect(output).toMatch(/ \d+ passed/);
  });
});

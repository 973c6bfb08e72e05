// Proves Gatehouse is transparent to the official MCP conformance suite: every server scenario that
// passes against the conformance fixture directly also passes through the gateway, with the fixture
// as a stdio upstream and as a Streamable HTTP upstream, in the 2025 era (suite 0.1.16, and
// 0.2.0-alpha.12 at 2025-11-25) and the 2026-07-28 era (0.2.0-alpha.12); and that the fixture keeps
// passing at least as many scenarios directly as it does today, so a fixture regression cannot
// quietly shrink what the gateway is measured against.
import { beforeAll, describe, expect, it } from 'vitest';

import {
  ERAS,
  SUITES,
  compare,
  runMatrix,
  type CheckNote,
  type Comparison,
  type SuiteId,
  type SuiteRun,
} from '../../scripts/conformance.js';

/** Scenarios passing directly when this test was written: every server scenario of each run. */
const MIN_PASSING_DIRECTLY: Record<SuiteId, number> = {
  '0.1.16': 32,
  '0.2.0-alpha.12@2025-11-25': 33,
  '0.2.0-alpha.12@2026-07-28': 40,
};

const GATEWAY_TARGETS = ['gateway-stdio', 'gateway-http'] as const;
const SUITE_IDS = SUITES.map((s) => s.id);

const describeFailures = (failures: CheckNote[]) => failures.map((c) => `${c.name}: ${c.message}`).join('; ');

describe('MCP conformance suite, directly and through Gatehouse', () => {
  let runs: SuiteRun[] = [];
  let comparison: Comparison;

  beforeAll(async () => {
    runs = await runMatrix(['direct', ...GATEWAY_TARGETS], ERAS);
    comparison = compare(runs);
  }, 240_000);

  it.each(SUITE_IDS)('the fixture passes the suite %s directly', (suite) => {
    const direct = runs.find((r) => r.target === 'direct' && r.suite === suite);
    expect(direct?.error, 'direct run error').toBeUndefined();
    const gaps = comparison.directFailures
      .filter((f) => f.suite === suite)
      .map((f) => `${f.scenario}: ${describeFailures(f.failures)}`);
    expect(comparison.passingDirectly[suite] ?? 0, `fixture gaps:\n${gaps.join('\n')}`).toBeGreaterThanOrEqual(
      MIN_PASSING_DIRECTLY[suite],
    );
  });

  for (const target of GATEWAY_TARGETS) {
    it.each(SUITE_IDS)(`every scenario of the suite %s passing directly passes through ${target}`, (suite) => {
      const run = runs.find((r) => r.target === target && r.suite === suite);
      expect(run?.error, `${target} / ${suite} could not run`).toBeUndefined();
      const regressions = comparison.regressions
        .filter((r) => r.target === target && r.suite === suite)
        .map((r) => `${r.scenario}: ${describeFailures(r.failures)}`);
      expect(regressions).toEqual([]);
    });
  }
});

// Medians over several runs of `npm run bench -- --json FILE`: each run's ratios first (a Gatehouse
// row ÷ the floor, ÷ the best third-party proxy, its p99 ÷ the floor's p99, all with a client of the
// same era in the same mode, within that run), then the median of each ratio across the runs.
//
//   npx tsx bench/median.ts run1.json run2.json run3.json
import { readFileSync } from 'node:fs';
import { median } from './lib/machine.js';
import type { RunJson } from './lib/report.js';

const runs = process.argv.slice(2).map((f) => JSON.parse(readFileSync(f, 'utf8')) as RunJson);
if (runs.length === 0) {
  process.stderr.write('usage: npx tsx bench/median.ts RUN.json...\n');
  process.exit(2);
}
type Mode = 'sequential' | 'concurrent';
type Row = RunJson['rows'][number];
const ok = (r: Row | undefined, mode: Mode) => (r?.status === 'ok' ? r[mode] : undefined);

const cases = [...new Set(runs.flatMap((run) => run.rows.filter((r) => r.group === 'c').map((r) => r.id)))];
const fmt = (xs: number[], digits = 2): string =>
  xs.length === 0 ? '—' : `${median(xs).toFixed(digits)}× (${xs.map((x) => x.toFixed(digits)).join(', ')})`;
const lines = [
  `Medians over ${runs.length} runs (${runs.map((r) => r.started.slice(0, 16)).join(', ')}); load averages at the start: ${runs.map((r) => r.loadStart.map((n) => n.toFixed(1)).join('/')).join('; ')}`,
  '',
  '| case | mode | ÷ floor (goal ≥ 1.0×) | p99 ÷ floor p99 (goal at c32 ≤ 1.0×) | ÷ best proxy (goal ≥ 1.3×) | ÷ gatehouse without policy |',
  '| --- | --- | --- | --- | --- | --- |',
];
for (const mode of ['sequential', 'concurrent'] as const) {
  for (const id of cases) {
    const vsFloor: number[] = [];
    const p99: number[] = [];
    const vsProxy: number[] = [];
    const vsPlain: number[] = [];
    for (const run of runs) {
      const row = run.rows.find((r) => r.id === id);
      const me = ok(row, mode);
      if (!row || !me) continue;
      const floor = ok(
        run.rows.find((r) => r.target === 'floor' && r.era === row.era),
        mode,
      );
      const best = Math.max(
        0,
        ...run.rows.filter((r) => r.group === 'd' && r.era === row.era).map((r) => ok(r, mode)?.callsPerSec ?? 0),
      );
      const plain = ok(
        run.rows.find((r) => r.target === 'gatehouse' && r.era === row.era),
        mode,
      );
      if (floor) {
        vsFloor.push(me.callsPerSec / floor.callsPerSec);
        p99.push(me.p99Ms / floor.p99Ms);
      }
      if (best > 0) vsProxy.push(me.callsPerSec / best);
      if (plain && row.target !== 'gatehouse') vsPlain.push(me.callsPerSec / plain.callsPerSec);
    }
    lines.push(
      `| ${id} | ${mode === 'sequential' ? 'sequential' : `concurrency ${runs[0]!.concurrency}`} | ${fmt(vsFloor)} | ${fmt(p99)} | ${fmt(vsProxy)} | ${fmt(vsPlain)} |`,
    );
  }
}
process.stdout.write(`${lines.join('\n')}\n`);

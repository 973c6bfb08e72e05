// What each step of the whole pipeline costs one call, one legacy call at a time: the bundle users
// run (`npm run build` makes it) with the whole pipeline on (policy with a limit, SQLite state,
// pins, the SQLite audit log, as the `gatehouse-audit` case of bench/run.ts), beside copies of the
// same bundle with one step taken out, and the same gateway configured with less. A copy that
// takes a step out is a gateway fit only to be measured: it skips what makes limits exact or
// records durable. Each patch must apply exactly once, or the run stops, so a change in the
// code cannot quietly leave a copy measuring the whole pipeline under another name.
//
//   npm run build && npx tsx bench/ablate.ts [--rounds 12] [--chunk 250] [--only pipeline,no-reservation]
//
// Every gateway is started first, with one stdio echo upstream, and warmed up with 300 calls.
// Then, in each round, each gateway in turn makes `--chunk` sequential `echo` calls from one
// legacy session (plain fetch, as bench/lib/raw-mcp.ts does), each round starting one gateway
// further along. `pipeline` runs twice, as two gateways: how far those two differ is what the
// machine's noise alone makes of the same code. A step's cost is the median over the rounds of
// its round's time per call minus the same round's `pipeline` time per call. Prints Markdown.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startGatewayProcess, type GatewayProcess, type GatewaySetup } from './lib/gateway-proc.js';
import { loadText, machineLine, median } from './lib/machine.js';
import { cpuNs, ROOT_DIR, runMain, stopOnExit } from './lib/proc.js';
import { echo, openLegacySession, type LegacySession } from './lib/raw-mcp.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '12' },
    chunk: { type: 'string', default: '250' },
    only: { type: 'string' },
  },
});
const ROUNDS = Number(values.rounds);
const CHUNK = Number(values.chunk);
const BUNDLE = join(ROOT_DIR, 'dist', 'bundle', 'gatehouse.js');

interface Patch {
  /** What the patch takes out, for the error when it does not apply. */
  what: string;
  find: RegExp;
  replace: string;
}

interface Variant {
  id: string;
  taken: string;
  setup: GatewaySetup;
  patches?: Patch[];
}

const WHOLE: GatewaySetup = { stdioServers: 1, policy: true, audit: true };

const VARIANTS: Variant[] = [
  { id: 'pipeline', taken: 'nothing: the bundle as built', setup: WHOLE },
  { id: 'pipeline-again', taken: 'nothing (a second gateway: the noise floor)', setup: WHOLE },
  {
    id: 'no-reservation',
    taken: "the limit's SQLite reservation (admitted at once, nothing written)",
    setup: WHOLE,
    patches: [
      {
        what: 'SqliteStore.reserve',
        find: /(reserve\(key, spec, now\) \{\s*return new Promise\(\((\w+), reject\) => \{)/,
        replace: '$1 $2({ ok: true, token: `ablate-${Math.random()}` }); return;',
      },
    ],
  },
  {
    id: 'no-spool-append',
    taken: "the audit spool's write (the record is still serialised)",
    setup: WHOLE,
    patches: [{ what: 'AuditSpool.append', find: /^(\s*)writeSync\(this\.fd, line\);$/m, replace: '$1void line;' }],
  },
  {
    id: 'no-batch-insert',
    taken: "the audit log's batched SQLite insert",
    setup: WHOLE,
    patches: [
      {
        what: 'SqliteAuditSink.insert',
        find: /this\.connection\.withBusyTimeout\(INSERT_BUSY_TIMEOUT_MS, \(\) => this\.insertMany\(records\)\);/,
        replace: 'void records;',
      },
    ],
  },
  {
    id: 'metrics-later',
    taken: "nothing: the call's metrics are counted after its answer leaves (setImmediate)",
    setup: WHOLE,
    patches: [
      {
        what: 'PolicyGate.call observe',
        find: /this\.hooks\.observe\?\.\((record\d*)\);/,
        replace: '{ const o = this.hooks.observe; if (o) setImmediate(() => o($1)); }',
      },
    ],
  },
  { id: 'no-audit', taken: 'the audit log (`audit: none`)', setup: { ...WHOLE, audit: false } },
  {
    id: 'no-policy',
    taken: 'the policy, the state file and the audit log: the relay alone',
    setup: { stdioServers: 1, policy: false, audit: false },
  },
];

interface Running {
  variant: Variant;
  gateway: GatewayProcess;
  session: LegacySession;
  /** Microseconds per call, one entry per round. */
  perCall: number[];
  cpuUs: number;
  calls: number;
}

/** A copy of the bundle with the variant's patches, each applied exactly once; its path. */
function patchedBundle(variant: Variant, source: string): string {
  let text = source;
  for (const p of variant.patches ?? []) {
    const global = new RegExp(p.find.source, `${p.find.flags}g`);
    const found = text.match(global)?.length ?? 0;
    if (found !== 1)
      throw new Error(`${variant.id}: the patch of ${p.what} matches ${found} places in the bundle, not 1`);
    text = text.replace(p.find, p.replace);
  }
  // Beside dist/bundle, at the same depth, so that the bundle finds package.json and its assets.
  const dir = join(ROOT_DIR, 'dist', `ablate-${variant.id}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'gatehouse.js');
  writeFileSync(file, text);
  return file;
}

const signed = (us: number): string => `${us > 0 ? '+' : ''}${us.toFixed(0)}`;

async function main(): Promise<void> {
  const only = values.only?.split(',');
  const chosen = VARIANTS.filter((v) => v.id === 'pipeline' || !only || only.includes(v.id));
  const source = readFileSync(BUNDLE, 'utf8');
  const running: Running[] = [];
  stopOnExit(() => running.map((r) => r.gateway.proc));
  const started = new Date();
  const loadBefore = loadText();
  try {
    for (const variant of chosen) {
      const bundle = variant.patches ? patchedBundle(variant, source) : undefined;
      const gateway = await startGatewayProcess({ ...variant.setup, ...(bundle ? { bundle } : {}) });
      const session = await openLegacySession(`${gateway.base}/mcp/echo`);
      running.push({ variant, gateway, session, perCall: [], cpuUs: 0, calls: 0 });
      for (let i = 0; i < 300; i++) await echo(session, `warm ${i}`);
      process.stderr.write(`started ${variant.id}\n`);
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < running.length; k++) {
        const r = running[(k + round) % running.length]!;
        const cpu0 = cpuNs(r.gateway.proc.pid) ?? 0;
        const t0 = performance.now();
        for (let i = 0; i < CHUNK; i++) await echo(r.session, `call ${round}-${i}`);
        r.perCall.push(((performance.now() - t0) * 1000) / CHUNK);
        r.cpuUs += ((cpuNs(r.gateway.proc.pid) ?? 0) - cpu0) / 1000;
        r.calls += CHUNK;
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS}\n`);
    }
  } finally {
    for (const r of running) await r.gateway.stop();
    for (const v of chosen)
      if (v.patches) rmSync(join(ROOT_DIR, 'dist', `ablate-${v.id}`), { recursive: true, force: true });
  }
  const base = running[0]!;
  const lines = [
    `- **Date:** ${started.toISOString()}; **machine:** ${machineLine()}; load average ${loadBefore} before, ${loadText()} after`,
    `- **Command:** \`npx tsx bench/ablate.ts --rounds ${ROUNDS} --chunk ${CHUNK}${values.only ? ` --only ${values.only}` : ''}\``,
    '',
    '| gateway | taken out | µs per call (median of the rounds) | against pipeline, µs (median; slowest to fastest round; − is faster) | ÷ pipeline time | gateway CPU µs per call |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const r of running) {
    const diffs = r.perCall.map((us, i) => us - base.perCall[i]!);
    const diff =
      r === base ? '—' : `${signed(median(diffs))} (${signed(Math.max(...diffs))} to ${signed(Math.min(...diffs))})`;
    lines.push(
      `| ${r.variant.id} | ${r.variant.taken} | ${median(r.perCall).toFixed(0)} | ${diff} | ${(median(r.perCall) / median(base.perCall)).toFixed(3)} | ${(r.cpuUs / r.calls).toFixed(0)} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

runMain('ablate', main);

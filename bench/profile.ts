// Summarises V8 CPU profiles (from `node --cpu-prof`, e.g. `npm run bench -- --cpu-prof-dir DIR`):
// self time per function, and per area of the code (SQLite, the SDK, JSON, node:http, the policy…).
//
//   npx tsx bench/profile.ts FILE_OR_DIR... [--top 25] [--callers 3]
//
// Times are the profile's own sample deltas; shares are of the non-idle time. Under each of the
// top functions, `--callers` lists where its time came from: the nearest enclosing frame that is
// not node internals, native code or the function's own area, i.e. the code that caused it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  options: { top: { type: 'string', default: '25' }, callers: { type: 'string', default: '3' } },
  allowPositionals: true,
});
if (positionals.length === 0) {
  process.stderr.write('usage: npx tsx bench/profile.ts FILE_OR_DIR... [--top N] [--callers N]\n');
  process.exit(2);
}

const files = positionals.flatMap((p) =>
  statSync(p).isDirectory()
    ? readdirSync(p)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(p, f))
    : [p],
);

/** Which part of the stack a frame belongs to, from its script URL and name. */
function area(url: string, fn: string): string {
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'garbage collection';
  if (fn === '(program)') return 'V8/native, unattributed ((program))';
  if (/^(parse|stringify|JSONParse|JSONStringify)$/i.test(fn) && url === '') return 'JSON parse/serialise (native)';
  // Native stream writes are a syscall each; their time includes waiting for a core after waking the reader.
  // V8 names each compiled regular expression after its source; one area for all of them.
  if (url === '' && fn.startsWith('RegExp: ')) return 'regular expressions (native, every pattern)';
  if (url === '' && /^(writeUtf8String|writeLatin1String|writeBuffer|writev)$/.test(fn))
    return 'socket and pipe writes (native, one syscall each)';
  // The reservation transaction's own frame also carries the native better-sqlite3 statement calls.
  if (url.includes('/store/sqlite-store.'))
    return 'SQLite state store (reservation transaction incl. native statements)';
  if (url.includes('/better-sqlite3/')) return 'SQLite (better-sqlite3)';
  if (url.includes('/@modelcontextprotocol/client/'))
    return 'SDK client (upstream transports, @modelcontextprotocol/client)';
  if (url.includes('/@modelcontextprotocol/')) return 'SDK (other @modelcontextprotocol packages)';
  if (url.includes('/zod/')) return 'zod (schema validation)';
  if (url.includes('/pino')) return 'pino (logging)';
  if (url.includes('/@marcbachmann/cel-js/')) return 'CEL';
  const nm = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (nm) return `package ${nm[1]}`;
  const own = url.match(/\/(?:dist|src)\/([^/]+)\//);
  if (own) {
    if (own[1] === 'policy') return 'Gatehouse policy decision (policy/)';
    if (own[1] === 'store' || own[1] === 'limits') return 'Gatehouse limiter and store (limits/, store/)';
    if (own[1] === 'http') return 'Gatehouse HTTP edge (http/)';
    return `Gatehouse ${own[1]}/`;
  }
  if (url.startsWith('node:')) {
    const mod = url.slice('node:'.length);
    if (/(^|\/)(_http\w*|https?|net|streams?|tls|dns)\b/.test(mod)) return 'node:http / net / streams';
    return `node internals (${mod})`;
  }
  if (url === '') return `native / builtin (${fn || 'anonymous'})`;
  return `other (${url})`;
}

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const short = url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(dist|src)\//, '$1/');
  return `${functionName || '(anonymous)'}  ${short}${short ? `:${lineNumber + 1}` : ''}`;
}

function summarise(file: string, top: number, callers: number): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  /** The nearest ancestor outside node internals, native code and the frame's own area. */
  const origin = (id: number, own: string): string => {
    for (let p = parent.get(id); p !== undefined; p = parent.get(p)) {
      const n = byId.get(p);
      if (!n) break;
      const url = n.callFrame.url;
      if (url !== '' && !url.startsWith('node:') && area(url, n.callFrame.functionName) !== own) return frameName(n);
    }
    return '(no caller outside node internals)';
  };
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byFrame = new Map<string, { us: number; area: string; from: Map<string, number> }>();
  const byArea = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const a = area(node.callFrame.url, node.callFrame.functionName);
    total += us;
    if (a === 'idle') {
      idle += us;
      continue;
    }
    const key = frameName(node);
    const f = byFrame.get(key) ?? { us: 0, area: a, from: new Map<string, number>() };
    f.us += us;
    const o = origin(id, a);
    f.from.set(o, (f.from.get(o) ?? 0) + us);
    byFrame.set(key, f);
    byArea.set(a, (byArea.get(a) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us: number): string => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  const ms = (us: number): string => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  const lines = [
    `${file}`,
    `  profiled ${(total / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s (${((100 * busy) / total).toFixed(0)}%), idle ${(idle / 1e6).toFixed(1)} s`,
    '',
    '  self time by area (share of busy time):',
    ...[...byArea.entries()].sort((a, b) => b[1] - a[1]).map(([a, us]) => `    ${pct(us)} ${ms(us)}  ${a}`),
    '',
    `  top ${top} functions by self time:`,
    ...[...byFrame.entries()]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, top)
      .flatMap(([k, f]) => [
        `    ${pct(f.us)} ${ms(f.us)}  ${k}  [${f.area}]`,
        ...[...f.from.entries()]
          .sort((a, b) => b[1] - a[1])
          .slice(0, callers)
          .map(([o, us]) => `                         ${pct(us)} from ${o}`),
      ]),
    '',
  ];
  return lines.join('\n');
}

const top = Number(values.top) || 25;
const callers = Number(values.callers) || 0;
for (const file of files) process.stdout.write(`${summarise(file, top, callers)}\n`);

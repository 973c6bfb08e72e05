// The machine a result was measured on, in the words every results entry uses.
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';

export function cpuModel(): string {
  try {
    const m = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m);
    return m?.[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function loadText(load: number[] = loadavg()): string {
  return load.map((n) => n.toFixed(2)).join(' ');
}

/** One line: CPU, cores, memory, kernel and Node. */
export function machineLine(): string {
  return `${cpuModel()}, ${availableParallelism()} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, Linux ${release()}, Node ${process.version}`;
}

/** VmRSS of a process in MiB (what it holds now), or undefined when it cannot be read. */
export function rssMiB(pid: number): number | undefined {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m);
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A process's resident memory by what it maps, in MiB, largest first (from /proc/<pid>/smaps):
 * a file by its name, anonymous memory as `[anon]`, the C heap as `[heap]`.
 */
export function rssByMapping(pid: number): [string, number][] {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return [];
  }
  const kib = new Map<string, number>();
  let mapping = '[anon]';
  for (const line of text.split('\n')) {
    const head = line.match(/^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/);
    if (head) mapping = head[1] || '[anon]';
    const rss = line.match(/^Rss:\s+(\d+) kB/);
    if (rss) kib.set(mapping, (kib.get(mapping) ?? 0) + Number(rss[1]));
  }
  return [...kib].map(([m, k]): [string, number] => [m, k / 1024]).sort((a, b) => b[1] - a[1]);
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

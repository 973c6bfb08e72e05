// An explanation as a person reads it: the decision first, then the call, then every check in the
// order the gateway makes them, the deciding one marked and those after it shown as not reached.
import { describeWindow } from '../limits/limiter.js';
import type { Explanation, LimitTrace, Step } from './explain.js';

export function formatExplanation(ex: Explanation): string {
  const lines: string[] = [];
  lines.push(`decision: ${ex.verdict}`);
  if (!ex.enforce) {
    lines.push(
      ex.enforcedVerdict === 'allow'
        ? '  shadow mode (enforce: false): nothing is blocked; enforced, this call would also be allowed'
        : `  shadow mode (enforce: false): nothing is blocked; enforced, this call would be: ${ex.enforcedVerdict}`,
    );
  }
  lines.push(`  decided by: ${ex.rule}`);
  if (ex.reason !== undefined) lines.push(`  reason: ${ex.reason}`);

  const c = ex.call;
  const classified = c.category
    ? `category ${c.category}${c.risk ? `, risk ${c.risk}` : ''}`
    : 'category unknown (categories rules do not apply)';
  lines.push('', `call: ${c.subject} "${c.name}" on server ${c.server}; ${classified}`);
  lines.push(`  grant ${c.grant.name} (agent ${c.grant.agent}${labels(c.grant.labels)}), session ${c.session}`);
  lines.push(`  at ${c.now}; args ${JSON.stringify(c.args)}`);

  lines.push('', 'chain:');
  const hides = ex.steps.filter((s) => s.kind === 'hide');
  for (const s of hides) lines.push(stepLine(s));
  if (hides.length === 0 && c.subject === 'tool') lines.push(row('hide', '/hide', 'no patterns'));
  lines.push(...matchLines(ex));
  for (const s of ex.steps) if (s.kind !== 'hide') lines.push(stepLine(s));
  return lines.join('\n');
}

function matchLines(ex: Explanation): string[] {
  const m = ex.match;
  const out: string[] = [];
  if (m.candidates.length === 0) out.push(row('match', `/${m.table}`, `no entry matches "${ex.call.name}"`));
  m.candidates.forEach((cand, i) => {
    out.push(row(i === 0 ? 'match' : '', cand.path, `${cand.chosen ? 'chosen: ' : ''}${cand.why}`));
  });
  if (m.category) {
    const where = m.category.path ?? (m.category.category ? `/categories/${m.category.category}` : '/categories');
    out.push(row('category', where, `${m.category.used ? 'chosen: ' : ''}${m.category.why}`));
  }
  return out;
}

function stepLine(s: Step): string {
  let text: string;
  switch (s.kind) {
    case 'hide':
      text = `"${s.pattern}" ${s.matched ? 'matches' : 'does not match'}`;
      break;
    case 'action':
      text = s.action;
      break;
    case 'default':
      text = `no rule of its own: default ${s.default}`;
      break;
    case 'deny_if':
    case 'require':
    case 'approval_if':
      text = `${s.source}  = ${s.error !== undefined ? `error: ${s.error}` : String(s.value)}`;
      break;
    case 'limit':
      text = limitText(s.limit);
      break;
  }
  let line = row(s.kind, s.path, text);
  if (s.decisive) line += `  => DECIDES: ${s.effect}`;
  else if (!s.reached) line += '  (not reached)';
  if (s.note) line += `\n${' '.repeat(14)}note: ${s.note}`;
  return line;
}

function limitText(l: LimitTrace): string {
  const counter = `counter ${l.counter}${l.perServer ? ' (this server)' : ''}`;
  const per = l.scopeValue === undefined ? 'in total' : `per ${l.scope} ${l.scopeValue}`;
  const parts = [`${counter} ${per}: at most ${l.max} per ${describeWindow(l.windowSeconds)} (${l.algorithm})`];
  if (l.when)
    parts.push(`when ${l.when.source} = ${l.when.error !== undefined ? `error: ${l.when.error}` : l.when.value}`);
  if (!l.applies) return [...parts, 'does not apply'].join('; ');
  if (l.key) parts.push(`key ${l.key.source} = ${l.key.error !== undefined ? `error: ${l.key.error}` : l.key.value}`);
  if (l.cost) {
    const value = l.cost.error !== undefined ? `error: ${l.cost.error}` : String(l.cost.value);
    parts.push(l.cost.source ? `cost ${l.cost.source} = ${value}` : `cost ${value}`);
  }
  if (l.usage) {
    const u = l.usage;
    parts.push(`used ${u.used} of ${u.max}, ${u.remaining} left${u.admits ? '' : ': this call would not fit'}`);
  }
  return parts.join('; ');
}

function row(kind: string, path: string, text: string): string {
  return `  ${kind.padEnd(11)} ${path}  ${text}`;
}

function labels(l: Record<string, string>): string {
  const entries = Object.entries(l);
  return entries.length === 0 ? '' : `, labels ${entries.map(([k, v]) => `${k}=${v}`).join(' ')}`;
}
